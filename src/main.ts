declare const AGENT_VERSION: string;
console.log(`WALinuxAgent-${typeof AGENT_VERSION === 'string' ? AGENT_VERSION : 'dev'}`);
