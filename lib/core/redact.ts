// Secrets never reach logs, errors or run history: every text leaving the
// process through them passes through `redact`.

const secrets = new Set<string>();

/** Remember a secret value (API key, S3 key) so that `redact` masks it wherever it appears. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

/** Query parameters that carry a credential, whatever their case. */
const CREDENTIAL_PARAMETER = /^(key|api[_-]?key|token|access[_-]?token|secret|password)$/i;

export function isCredentialParameter(name: string): boolean {
  return CREDENTIAL_PARAMETER.test(name);
}

// Secrets that live in URL shapes, masked even if nobody registered them.
const urlSecretPatterns: Array<[RegExp, string]> = [
  [/(\/api\/)[^/\s"']+(\/subgraphs)/g, "$1***$2"], // The Graph gateway: /api/<key>/subgraphs/...
  [/(\/v3\/)[0-9A-Za-z]{16,}/g, "$1***"], // Infura: /v3/<project id>
  [/(\/\/)[^/\s:@"']+:[^@\s/"']*@/g, "$1***:***@"], // user:password@host
  [/([?&;](?:key|api[_-]?key|token|access[_-]?token|secret|password)=)[^&\s"'#<>]+/gi, "$1***"], // ?api_key=...
];

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("***");
  for (const [pattern, replacement] of urlSecretPatterns) out = out.replace(pattern, replacement);
  return out;
}
