import { describe, expect, it } from 'vitest';
import { isFatalForwardError, parseForwardingLine } from './port-forward.js';

describe('kubectl port-forward output', () => {
  it('reads the local and remote ports from the "Forwarding from" line', () => {
    expect(parseForwardingLine('Forwarding from 127.0.0.1:41234 -> 8080')).toEqual({
      address: '127.0.0.1',
      localPort: 41234,
      remotePort: 8080,
    });
    expect(parseForwardingLine('Forwarding from [::1]:41234 -> 8081\n')).toEqual({
      address: '::1',
      localPort: 41234,
      remotePort: 8081,
    });
  });

  it('ignores every other line', () => {
    for (const line of [
      'Handling connection for 41234',
      '',
      'error: lost connection to pod',
      'Forwarding from 127.0.0.1:x -> 80',
    ]) {
      expect(parseForwardingLine(line), line).toBeUndefined();
    }
  });

  it('recognises the errors after which kubectl must be restarted', () => {
    expect(isFatalForwardError('error: lost connection to pod')).toBe(true);
    expect(
      isFatalForwardError('error: unable to forward port because pod is not running. Current status=Pending'),
    ).toBe(true);
    expect(
      isFatalForwardError(
        'E1129 03:10:11.123 portforward.go:413] an error occurred forwarding 41234 -> 8080: error forwarding port 8080 to pod 1f2e, uid : failed to find sandbox "1f2e" ... pods "api-6d4-x" not found',
      ),
    ).toBe(true);
    expect(isFatalForwardError('Handling connection for 41234')).toBe(false);
  });
});
