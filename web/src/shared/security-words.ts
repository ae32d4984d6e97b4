/*
 * Words for the errors of sign-in and account security (wrong codes, wrong
 * passwords, too many tries and how long to wait), the same in the chat app and
 * the console. Each app's own errorText() asks here first.
 */
import { PipitError } from '@pipit/sdk';

/** "30 seconds", "2 minutes". */
export function waitWords(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  if (s < 90) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.ceil(s / 60);
  return `${m} minutes`;
}

const WORDS: Record<string, string> = {
  invalid_credentials: 'Wrong username or password.',
  wrong_password: 'That is not your current password.',
  weak_password: 'Passwords need at least 8 characters.',
  mfa_required: 'Enter the code from your authenticator app.',
  mfa_enrollment_required: 'Set up two-factor authentication first.',
  network: 'Cannot reach the server. Check your connection.',
  timeout: 'The server did not answer in time. Try again.',
};

/**
 * Words for the errors of sign-in and account security, or null for a code this
 * table does not know (the app's own words apply). `recovery`: the code was a
 * recovery code, so a wrong one is named as such.
 */
export function securityErrorText(err: unknown, recovery = false): string | null {
  if (!(err instanceof PipitError)) return null;
  if (err.code === 'invalid_mfa_code') {
    return recovery
      ? 'That recovery code is wrong or was used already. Each one works once.'
      : 'That code is wrong or was used already. Enter the newest code your authenticator app shows.';
  }
  if (err.code === 'rate_limited') {
    return err.retryAfterMs !== undefined
      ? `Too many attempts. Try again in ${waitWords(err.retryAfterMs)}.`
      : 'Too many attempts. Wait a moment and try again.';
  }
  return WORDS[err.code] ?? null;
}
