import { execFile } from 'node:child_process';
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** TLS material for one control plane: a private CA, the API server's serving cert and an admin client cert. */
export interface Pki {
  caCertFile: string;
  caKeyFile: string;
  caPem: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** Client certificate with `O=system:masters`, accepted through `--client-ca-file`. */
  adminCertFile: string;
  adminKeyFile: string;
  adminCertPem: string;
  adminKeyPem: string;
}

/** A ServiceAccount token signing key pair. */
export interface SigningKey {
  privateKeyFile: string;
  publicKeyFile: string;
  publicKeyPem: string;
  /** JWS algorithm the API server picks for this key. */
  algorithm: 'RS256' | 'ES256';
  /** The `kid` the API server puts in headers of tokens signed with this key. */
  keyId: string;
}

/** Key type of a signing key: RSA 2048 (the kubeadm/kind default) or EC P-256. */
export type SigningKeyType = 'rsa' | 'ec';

// A config of our own: the system one may add extensions (e.g. to `req -x509`) that clash with ours.
const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}`, { cause: error });
  }
}

// EC keys for TLS: generated in milliseconds, and TLS key type is irrelevant to what the tests exercise.
const TLS_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc'];

async function issueCert(dir: string, name: string, subject: string, profile: 'server' | 'client', config: string) {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  await openssl(['req', '-new', '-config', config, ...TLS_KEY, '-keyout', key, '-out', csr, '-subj', subject]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(dir, 'ca.crt'),
    '-CAkey',
    join(dir, 'ca.key'),
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-days',
    '7',
    '-extfile',
    config,
    '-extensions',
    profile,
    '-out',
    cert,
  ]);
  return { key, cert };
}

/**
 * Creates a fresh CA, a serving certificate for `127.0.0.1`/`localhost` and an admin client certificate in `dir`.
 */
export async function generatePki(dir: string): Promise<Pki> {
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, OPENSSL_CONFIG);
  const caCertFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  await openssl([
    'req',
    '-x509',
    '-config',
    config,
    '-extensions',
    'ca',
    ...TLS_KEY,
    '-keyout',
    caKeyFile,
    '-out',
    caCertFile,
    '-days',
    '7',
    '-subj',
    '/CN=kube-service-auth testing CA',
  ]);
  const [server, admin] = await Promise.all([
    issueCert(dir, 'apiserver', '/CN=kube-apiserver', 'server', config),
    issueCert(dir, 'admin', '/O=system:masters/CN=kube-service-auth-admin', 'client', config),
  ]);
  const [caPem, adminCertPem, adminKeyPem] = await Promise.all([
    readFile(caCertFile, 'utf8'),
    readFile(admin.cert, 'utf8'),
    readFile(admin.key, 'utf8'),
  ]);
  return {
    caCertFile,
    caKeyFile,
    caPem,
    serverCertFile: server.cert,
    serverKeyFile: server.key,
    adminCertFile: admin.cert,
    adminKeyFile: admin.key,
    adminCertPem,
    adminKeyPem,
  };
}

/**
 * The `kid` kube-apiserver derives for a public key: unpadded base64url of the SHA-256 of its DER (PKIX) encoding.
 */
export function kubernetesKeyId(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64url');
}

/**
 * Generates a ServiceAccount signing key pair as `<name>.key` / `<name>.pub` PEM files in `dir`.
 */
export async function generateSigningKey(dir: string, name: string, type: SigningKeyType = 'rsa'): Promise<SigningKey> {
  const privateKeyFile = join(dir, `${name}.key`);
  const publicKeyFile = join(dir, `${name}.pub`);
  const params =
    type === 'rsa' ? ['RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] : ['EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await openssl(['genpkey', '-algorithm', ...params, '-out', privateKeyFile]);
  await openssl(['pkey', '-in', privateKeyFile, '-pubout', '-out', publicKeyFile]);
  const publicKeyPem = await readFile(publicKeyFile, 'utf8');
  return {
    privateKeyFile,
    publicKeyFile,
    publicKeyPem,
    algorithm: type === 'rsa' ? 'RS256' : 'ES256',
    keyId: kubernetesKeyId(publicKeyPem),
  };
}
