// Byte-level reading and writing for the reconciliation protocol. Every read is bounds-checked and a
// violation is a PROTOCOL_INVALID error, never a RangeError or a wrong value.

import { ConvergeError } from './errors.js';
import type { Version } from './hlc.js';
import { decodeVersion, encodeVersion } from './record.js';

export class WireWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initialBytes = 1024) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, v >>> 0);
    this.length += 4;
  }

  /** Unsigned LEB128, up to 2^53. */
  varuint(v: number): void {
    this.ensure(8);
    let x = v;
    while (x >= 0x80) {
      this.buf[this.length++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.length++] = x;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  lengthPrefixed(b: Uint8Array): void {
    this.varuint(b.length);
    this.bytes(b);
  }

  fp(hi: number, lo: number): void {
    this.u32(hi);
    this.u32(lo);
  }

  version(v: Version): void {
    this.bytes(encodeVersion(v));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

export class WireReader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.at;
  }

  remaining(): number {
    return this.buf.length - this.at;
  }

  private need(n: number, what: string): void {
    if (this.at + n > this.buf.length) throw invalid(`truncated ${what} at byte ${this.at}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.at++]!;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.at);
    this.at += 4;
    return v;
  }

  varuint(what: string, max: number): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8(what);
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (result > max)
          throw new ConvergeError('PROTOCOL_TOO_LARGE', `${what} ${result} exceeds its limit ${max}`);
        return result;
      }
      scale *= 0x80;
    }
    throw invalid(`${what}: varint too long`);
  }

  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  lengthPrefixed(what: string, max: number): Uint8Array {
    return this.bytes(this.varuint(`${what} length`, max), what);
  }

  fp(what: string): [number, number] {
    return [this.u32(what), this.u32(what)];
  }

  version(what: string): Version {
    const { version, end } = decodeVersion(this.buf, this.at);
    if (end > this.buf.length) throw invalid(`truncated ${what}`);
    this.at = end;
    return version;
  }

  end(what: string): void {
    if (this.at !== this.buf.length)
      throw invalid(`${this.buf.length - this.at} trailing bytes after ${what}`);
  }
}

export function invalid(message: string): ConvergeError {
  return new ConvergeError('PROTOCOL_INVALID', `malformed reconciliation message: ${message}`);
}
