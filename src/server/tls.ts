// Loads a node's TLS material from the certificate files named in its config: the certificate and key it
// serves HTTPS with, and the CA it trusts when it calls https:// peers. Every failure names the option and
// file.

import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { NodeConfig } from '../config/config.js';
import { ConvergeError } from '../core/errors.js';

export interface TlsMaterial {
  /** Present when the node serves HTTPS. */
  readonly server: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** The CA that peers' certificates must chain to (undefined: Node's built-in CA list). */
  readonly ca: Buffer | undefined;
}

function readPem(option: string, file: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new ConvergeError('CONFIG_INVALID', `${option} ${file}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN '))
    throw new ConvergeError('CONFIG_INVALID', `${option} ${file}: not a PEM file (no -----BEGIN line)`);
  return pem;
}

export function loadTlsMaterial(tls: NodeConfig['tls']): TlsMaterial {
  const ca = tls.caFile === null ? undefined : readPem('--tls-ca', tls.caFile);
  if (tls.certFile === null || tls.keyFile === null) return { server: undefined, ca };
  const cert = readPem('--tls-cert', tls.certFile);
  const key = readPem('--tls-key', tls.keyFile);
  try {
    if ((statSync(tls.keyFile).mode & 0o077) !== 0)
      process.stderr.write(`converge: warning: ${tls.keyFile} is readable by group or others\n`);
  } catch {
    // already read above; a race with its removal changes nothing here
  }
  // Building a context now turns a key that does not match its certificate into a startup error.
  try {
    createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) });
  } catch (err) {
    throw new ConvergeError(
      'CONFIG_INVALID',
      `--tls-cert ${tls.certFile} / --tls-key ${tls.keyFile} / --tls-ca: ${(err as Error).message}`,
    );
  }
  return { server: { cert, key }, ca };
}
