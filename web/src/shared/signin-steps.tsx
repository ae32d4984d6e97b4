/*
 * What comes after the password on both sign-in pages (the chat app's and the
 * console's), so they ask the same way:
 * - an account with two-factor authentication is answered 401 `mfa_required`:
 *   the code step asks for the 6-digit code (or a recovery code) and logs in again
 *   with the username and password already typed;
 * - a login answered with `mfa_enrollment_required` (the app requires MFA of this
 *   user, who has none yet) goes straight to the enrolment, and the sign-in
 *   finishes once it is confirmed; the same token is then a full one.
 */
import { PipitError, type Client, type Session as SdkSession } from '@pipit/sdk';
import { useState } from 'preact/hooks';
import { CodeField, MfaSetup, codeComplete } from './mfa';
import { securityErrorText } from './security-words';
import { ErrorText } from './ui';

export type NextStep = { kind: 'done'; session: SdkSession } | { kind: 'code' } | { kind: 'enrol'; session: SdkSession };

/** Runs the password login and says what comes next; other errors are thrown as they came. */
export async function afterPassword(login: () => Promise<SdkSession>): Promise<NextStep> {
  try {
    const session = await login();
    return session.mfa_enrollment_required ? { kind: 'enrol', session } : { kind: 'done', session };
  } catch (err) {
    if (err instanceof PipitError && err.code === 'mfa_required') return { kind: 'code' };
    throw err;
  }
}

/**
 * The code or enrolment step, with its own title, in place of the password form.
 * `wide` is the page's class for the button across the card.
 */
export function SecondStep(props: {
  step: Exclude<NextStep, { kind: 'done' }>;
  client: Client;
  username: string;
  password: string;
  device: string;
  wide: string;
  /** The user is signed in with a full session. */
  onSignedIn: (session: SdkSession) => Promise<void>;
  /** Back to the password form, with what to say there. */
  onBack: (error?: string) => void;
}) {
  const [step, setStep] = useState(props.step);

  if (step.kind === 'code') {
    return (
      <CodeStep
        {...props}
        onSignedIn={async (session) => {
          if (session.mfa_enrollment_required) setStep({ kind: 'enrol', session });
          else await props.onSignedIn(session);
        }}
      />
    );
  }

  return (
    <EnrolCard
      client={props.client}
      password={props.password}
      username={props.username}
      wide={props.wide}
      onSignOut={() => {
        // The token could only enrol; it is of no use to anyone now.
        props.client.logout().catch(() => undefined);
        props.onBack();
      }}
      onDone={() => void props.onSignedIn(step.session)}
    />
  );
}

/**
 * The enrolment a policy requires, on a sign-in card: right after the password
 * (which it then reuses), or for a saved session the server refuses until then.
 */
export function EnrolCard(props: {
  client: Client;
  password?: string;
  username: string;
  wide: string;
  onSignOut: () => void;
  onDone: () => void;
}) {
  return (
    <div data-testid="mfa-enrol">
      <h1 class="auth-title">Set up two-factor authentication</h1>
      <p class="muted auth-sub">This server requires it for your account before you continue.</p>
      <MfaSetup
        client={props.client}
        password={props.password}
        username={props.username}
        layout="card"
        wide={props.wide}
        cancelLabel="Cancel and sign out"
        onCancel={props.onSignOut}
        onDone={props.onDone}
      />
    </div>
  );
}

function CodeStep(props: {
  client: Client;
  username: string;
  password: string;
  device: string;
  wide: string;
  onSignedIn: (session: SdkSession) => Promise<void>;
  onBack: (error?: string) => void;
}) {
  const [recovery, setRecovery] = useState(false);
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy || !codeComplete(code, recovery)) return;
    setBusy(true);
    setError(null);
    try {
      const proof = recovery ? { recoveryCode: code } : { code };
      const session = await props.client.login(props.username, props.password, { device: props.device, ...proof });
      await props.onSignedIn(session);
    } catch (err) {
      if (err instanceof PipitError && err.code === 'invalid_credentials') {
        // The password changed meanwhile: only the first step can fix that.
        props.onBack(securityErrorText(err) ?? undefined);
        return;
      }
      setError(securityErrorText(err, recovery) ?? (err instanceof Error ? err.message : String(err)));
      setCode('');
      setBusy(false);
    }
  };

  const switchKind = () => {
    setRecovery(!recovery);
    setCode('');
    setError(null);
  };

  return (
    <form onSubmit={submit} noValidate data-testid="mfa-code-step">
      <h1 class="auth-title">Two-factor authentication</h1>
      <p class="muted auth-sub">
        {recovery
          ? 'Enter one of the recovery codes you stored when you turned two-factor authentication on. Each works once.'
          : `Enter the 6-digit code your authenticator app shows for ${props.username}.`}
      </p>
      <CodeField key={recovery ? 'recovery' : 'code'} value={code} onInput={setCode} recovery={recovery} autoFocus />
      <ErrorText error={error} />
      <button type="submit" class={`btn btn-primary ${props.wide}`} disabled={busy || !codeComplete(code, recovery)} data-testid="verify-code">
        {busy ? 'Checking…' : 'Verify'}
      </button>
      <p class="auth-links">
        <button type="button" class="link-btn" onClick={switchKind} data-testid="toggle-recovery">
          {recovery ? 'Use a code from the app instead' : 'Use a recovery code instead'}
        </button>
        <button type="button" class="link-btn" onClick={() => props.onBack()}>
          Back
        </button>
      </p>
    </form>
  );
}
