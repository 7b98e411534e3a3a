// messageOf: a string for anything thrown, whatever throws it.
import { describe, expect, it } from 'vitest';
import { messageOf } from './errors.ts';

describe('messageOf', () => {
  it('reads the message of an Error, a string, or an object with a message; else its JSON or its text', () => {
    expect(messageOf(new TypeError('bad'))).toBe('bad');
    expect(messageOf('plain')).toBe('plain');
    expect(messageOf({ message: 'from a library', code: 7 })).toBe('from a library');
    expect(messageOf({ code: 7 })).toBe('{"code":7}');
    expect(messageOf(undefined)).toBe('undefined');
    expect(messageOf(Symbol('s'))).toBe('Symbol(s)');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(messageOf(cyclic)).toBe('[object Object]');
  });
});
