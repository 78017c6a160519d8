// One ovf-env.xml builder for the tests, in the shape Azure's provisioning DVD carries (default OVF
// namespace, `wa:` prefix, the configuration set re-declaring the Azure namespace as default).
// Values are XML-escaped unless `raw` is set (parser tests hand in their own markup and entities);
// CustomData is given as text and base64-encoded, or as `customDataRaw` exactly as it should appear.
export const OVF_NS = 'http://schemas.dmtf.org/ovf/environment/1';
export const WA_NS = 'http://schemas.microsoft.com/windowsazure';

export interface OvfOptions {
  /** null leaves <UserName> out. Default azureuser. */
  user?: string | null;
  host?: string;
  password?: string;
  /** <DisableSshPasswordAuthentication>: a boolean, or the literal text; absent when undefined. */
  disable?: boolean | string;
  keys?: { path: string; value?: string; fingerprint?: string }[];
  keyPairs?: { path: string; fingerprint: string }[];
  /** Inner XML of <SSH>, used as is (instead of keys/keyPairs). */
  sshXml?: string;
  customData?: string;
  customDataRaw?: string;
  provisionGuestAgent?: string;
  preprovisionedVm?: string;
  /** PreprovisionedVMType as text (PreprovisionedVm becomes true unless it is 'None'); nil when undefined. */
  pps?: string;
  /** Insert text values without escaping. */
  raw?: boolean;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function ovfEnvXml(o: OvfOptions = {}): string {
  const v = (s: string) => (o.raw ? s : escape(s));
  const keys = (o.keys ?? []).map((k) => `<PublicKey><Fingerprint>${k.fingerprint ?? ''}</Fingerprint><Path>${v(k.path)}</Path>${k.value ? `<Value>${v(k.value)}</Value>` : ''}</PublicKey>`).join('');
  const pairs = (o.keyPairs ?? []).map((k) => `<KeyPair><Fingerprint>${k.fingerprint}</Fingerprint><Path>${v(k.path)}</Path></KeyPair>`).join('');
  const ssh = o.sshXml ?? (keys || pairs ? `<PublicKeys>${keys}</PublicKeys><KeyPairs>${pairs}</KeyPairs>` : '');
  const custom = o.customDataRaw ?? (o.customData !== undefined ? Buffer.from(o.customData).toString('base64') : undefined);
  return `<?xml version="1.0" encoding="utf-8"?>
<Environment xmlns="${OVF_NS}" xmlns:oe="${OVF_NS}" xmlns:wa="${WA_NS}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <wa:ProvisioningSection>
    <wa:Version>1.0</wa:Version>
    <LinuxProvisioningConfigurationSet xmlns="${WA_NS}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
      <ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType>
      <HostName>${v(o.host ?? 'vm-01')}</HostName>
      ${o.user === null ? '' : `<UserName>${v(o.user ?? 'azureuser')}</UserName>`}
      ${o.password !== undefined ? `<UserPassword>${v(o.password)}</UserPassword>` : ''}
      ${o.disable !== undefined ? `<DisableSshPasswordAuthentication>${typeof o.disable === 'boolean' ? String(o.disable) : o.disable}</DisableSshPasswordAuthentication>` : ''}
      <SSH>${ssh}</SSH>
      ${custom !== undefined ? `<CustomData>${custom}</CustomData>` : ''}
    </LinuxProvisioningConfigurationSet>
  </wa:ProvisioningSection>
  <wa:PlatformSettingsSection>
    <wa:Version>1.0</wa:Version>
    <wa:PlatformSettings>
      <wa:KmsServerHostname>kms.core.windows.net</wa:KmsServerHostname>
      <wa:ProvisionGuestAgent>${o.provisionGuestAgent ?? 'true'}</wa:ProvisionGuestAgent>
      <wa:GuestAgentPackageName i:nil="true"/>
      <wa:PreprovisionedVm>${o.preprovisionedVm ?? (o.pps !== undefined && o.pps !== 'None' ? 'true' : 'false')}</wa:PreprovisionedVm>
      ${o.pps !== undefined ? `<wa:PreprovisionedVMType>${v(o.pps)}</wa:PreprovisionedVMType>` : '<wa:PreprovisionedVMType i:nil="true"/>'}
    </wa:PlatformSettings>
  </wa:PlatformSettingsSection>
</Environment>
`;
}
