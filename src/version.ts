// Our own agent version, in waagent's four-part form. It must stay above the platform's minimum
// supported agent version (2.2.53) and must never match a Python agent release we would be mistaken for.
export const AGENT_NAME = 'WALinuxAgent';
export const AGENT_VERSION = '3.0.0.0';
export const PRODUCT = 'waagent-sea';
