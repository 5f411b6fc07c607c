import { describe, expect, it } from 'vitest';
import { parseListenAddr } from './listen-addr.js';

describe('parseListenAddr', () => {
  it('reads ":8081" as every interface', () => {
    expect(parseListenAddr(':8081')).toEqual({ host: undefined, port: 8081 });
  });
  it('reads an IPv4 host and port', () => {
    expect(parseListenAddr('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
  });
  it('reads a bracketed IPv6 host', () => {
    expect(parseListenAddr('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
  });
  it.each(['8080', 'localhost', ':99999', 'a:b', ''])('refuses %j naming LISTEN_ADDR', (value) => {
    expect(() => parseListenAddr(value)).toThrow(/LISTEN_ADDR/);
  });
});
