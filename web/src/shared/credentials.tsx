/*
 * The username and password fields of both sign-in pages (the chat app's, which
 * also registers, and the console's), so they look and behave the same.
 */
import type { Ref } from 'preact';

export function CredentialFields(props: {
  username: string;
  password: string;
  onUsername: (value: string) => void;
  onPassword: (value: string) => void;
  /** Registering: the browser offers to generate and save a new password. */
  newPassword?: boolean;
  usernameRef?: Ref<HTMLInputElement>;
}) {
  return (
    <>
      <label class="field">
        <span>Username</span>
        <input
          ref={props.usernameRef}
          class="input"
          name="username"
          autocomplete="username"
          autocapitalize="none"
          spellcheck={false}
          required
          autoFocus
          value={props.username}
          onInput={(e) => props.onUsername(e.currentTarget.value)}
        />
      </label>
      <label class="field">
        <span>Password</span>
        <input
          class="input"
          type="password"
          name="password"
          autocomplete={props.newPassword ? 'new-password' : 'current-password'}
          required
          value={props.password}
          onInput={(e) => props.onPassword(e.currentTarget.value)}
        />
      </label>
    </>
  );
}
