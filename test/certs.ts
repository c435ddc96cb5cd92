// Throw-away certificates for the TLS tests, made with the openssl command line exactly as docs/security.md
// shows: a CA, and a node certificate it signs for 127.0.0.1 and localhost.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  readonly dir: string;
  readonly caCert: string;
  readonly nodeCert: string;
  readonly nodeKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA named `name` and a node certificate signed by it, in a fresh temporary folder. */
export function makeCertificates(name = 'converge-test'): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), `${name}-certs-`));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(dir, [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    `/CN=${name} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(dir, ['req', ...ec, '-keyout', 'node.key', '-out', 'node.csr', '-subj', `/CN=${name} node`]);
  writeFileSync(
    join(dir, 'node.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'node.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'node.crt',
    '-days',
    '2',
    '-extfile',
    'node.ext',
  ]);
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    nodeCert: join(dir, 'node.crt'),
    nodeKey: join(dir, 'node.key'),
  };
}
