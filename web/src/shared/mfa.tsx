/*
 * Two-factor authentication pieces the chat app and the console share: the code
 * field, the enrolment (password → QR code and key → first code → recovery codes)
 * and the recovery codes, shown once.
 *
 * The QR code is drawn on a canvas (the `qrcode` package): no image URL, so the
 * Content-Security-Policy has nothing to allow, and the secret never leaves the page.
 */
import { PipitError, type Client } from '@pipit/sdk';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { toCanvas } from 'qrcode';
import { securityErrorText } from './security-words';
import { ErrorText, FormActions, toast } from './ui';

/** securityErrorText, else the server's message as a sentence. */
function words(err: unknown, recovery = false): string {
  const known = securityErrorText(err, recovery);
  if (known !== null) return known;
  const message = err instanceof Error ? err.message : String(err);
  return message.charAt(0).toUpperCase() + message.slice(1);
}

/** "ABCDEFGHIJKLMNOP" → "ABCD EFGH IJKL MNOP", for reading and typing by hand. */
export function groupsOfFour(text: string): string {
  return text.replace(/(.{4})(?=.)/g, '$1 ');
}

/** A 6-digit code from the app, or a recovery code. Digits only for the first: what is pasted with spaces still works. */
export function CodeField(props: {
  value: string;
  onInput: (value: string) => void;
  recovery?: boolean;
  label?: string;
  autoFocus?: boolean;
}) {
  const recovery = props.recovery === true;
  return (
    <label class="field">
      <span>{props.label ?? (recovery ? 'Recovery code' : '6-digit code')}</span>
      <input
        class={`input code-input${recovery ? ' code-input-recovery' : ''}`}
        name={recovery ? 'recovery-code' : 'code'}
        type="text"
        inputMode={recovery ? 'text' : 'numeric'}
        autocomplete={recovery ? 'off' : 'one-time-code'}
        autocapitalize="none"
        spellcheck={false}
        required
        maxLength={recovery ? 40 : 6}
        placeholder={recovery ? 'abcd-efgh-ijkl-mnop' : '123456'}
        autoFocus={props.autoFocus}
        value={props.value}
        onInput={(e) => props.onInput(recovery ? e.currentTarget.value.trim() : e.currentTarget.value.replace(/\D/g, '').slice(0, 6))}
        data-testid={recovery ? 'recovery-code-input' : 'code-input'}
      />
    </label>
  );
}

/** True when the value is worth sending: six digits, or something that may be a recovery code. */
export function codeComplete(value: string, recovery = false): boolean {
  return recovery ? value.length >= 8 : /^\d{6}$/.test(value);
}

/** Copies to the clipboard; without access (plain HTTP on a LAN address), says how to do it by hand. */
async function copy(text: string, what: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied`);
  } catch {
    toast('Copy them by hand', 'This page has no clipboard access: select the text and press Ctrl+C (⌘C on a Mac).', true);
  }
}

function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Recovery codes, shown once: a warning, the list, and Copy and Download. */
export function RecoveryCodes(props: { codes: string[]; username?: string }) {
  const text = `pipit recovery codes${props.username ? ` for ${props.username}` : ''} (${location.host})\n` +
    'Each code signs you in once, instead of a code from your authenticator app.\n\n' +
    `${props.codes.join('\n')}\n`;
  return (
    <div class="recovery" data-testid="recovery-codes">
      <p class="recovery-warn" role="note">
        <strong>Store these codes now.</strong> They are shown only this once. Each one signs you in once if you lose
        your phone or authenticator app.
      </p>
      <ol class="recovery-list mono">
        {props.codes.map((c) => (
          <li key={c} data-testid="recovery-code">
            {c}
          </li>
        ))}
      </ol>
      <div class="recovery-actions">
        <button type="button" class="btn btn-sm" onClick={() => void copy(props.codes.join('\n'), 'Recovery codes')}>
          Copy
        </button>
        <button type="button" class="btn btn-sm" onClick={() => download('pipit-recovery-codes.txt', text)} data-testid="download-codes">
          Download
        </button>
      </div>
    </div>
  );
}

function QrCode(props: { text: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    if (!canvas.current) return;
    // Black on white whatever the theme: scanners read dark modules on a light ground.
    toCanvas(canvas.current, props.text, { width: 184, margin: 2, errorCorrectionLevel: 'M', color: { dark: '#000000', light: '#ffffff' } }).catch(
      () => setFailed(true),
    );
  }, [props.text]);
  return failed ? null : <canvas ref={canvas} class="mfa-qr" role="img" aria-label="QR code for your authenticator app" data-testid="mfa-qr" />;
}

/**
 * The buttons under a step: in a modal, Cancel and the action side by side; on a
 * sign-in card, the action across the card and Cancel as a link under it.
 */
function StepActions(props: {
  layout: 'modal' | 'card';
  label: ComponentChildren;
  disabled: boolean;
  cancelLabel: string;
  onCancel: () => void;
  wide?: string | undefined;
  testid?: string;
}) {
  if (props.layout === 'modal') {
    return <FormActions onCancel={props.onCancel} label={props.label} disabled={props.disabled} testid={props.testid} />;
  }
  return (
    <>
      <button type="submit" class={`btn btn-primary ${props.wide ?? 'btn-block'}`} disabled={props.disabled} data-testid={props.testid}>
        {props.label}
      </button>
      <p class="auth-links">
        <button type="button" class="link-btn" onClick={props.onCancel}>
          {props.cancelLabel}
        </button>
      </p>
    </>
  );
}

type SetupStep =
  | { kind: 'password'; error: string | null }
  | { kind: 'starting' }
  | { kind: 'scan'; secret: string; uri: string }
  | { kind: 'codes'; codes: string[] };

/**
 * Turning two-factor authentication on: the password (skipped when the caller
 * has it, right after sign-in), then the QR code and the key as text, then the
 * first code, then the recovery codes. onDone runs once the codes were seen; MFA
 * is on from the confirmation, so there is no Cancel on that last step.
 */
export function MfaSetup(props: {
  client: Client;
  /** Known already (the sign-in just used it): the enrolment begins at once. */
  password?: string | undefined;
  username?: string;
  layout: 'modal' | 'card';
  /** The sign-in card's class for its wide button. */
  wide?: string;
  cancelLabel?: string;
  onCancel: () => void;
  onDone: () => void;
}) {
  const [step, setStep] = useState<SetupStep>(props.password ? { kind: 'starting' } : { kind: 'password', error: null });
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const cancelLabel = props.cancelLabel ?? 'Cancel';

  const begin = async (pw: string) => {
    setBusy(true);
    try {
      const e = await props.client.mfaBegin(pw);
      setStep({ kind: 'scan', secret: e.secret, uri: e.otpauth_uri });
      setError(null);
    } catch (err) {
      const text =
        err instanceof PipitError && err.code === 'conflict' ? 'Two-factor authentication is on already for this account.' : words(err);
      setStep({ kind: 'password', error: text });
    }
    setBusy(false);
  };

  useEffect(() => {
    if (props.password) void begin(props.password);
  }, []);

  const confirm = async (e: Event) => {
    e.preventDefault();
    if (busy || !codeComplete(code)) return;
    setBusy(true);
    setError(null);
    try {
      const codes = await props.client.mfaConfirm(code);
      setStep({ kind: 'codes', codes });
    } catch (err) {
      setError(
        err instanceof PipitError && err.code === 'conflict'
          ? 'This setup is no longer open (it was replaced or finished elsewhere). Cancel and start again.'
          : words(err),
      );
      setCode('');
    }
    setBusy(false);
  };

  if (step.kind === 'starting') {
    return (
      <div class="mfa-starting" role="status">
        <span class="spinner" aria-hidden="true" />
        Preparing your key…
      </div>
    );
  }

  if (step.kind === 'password') {
    return (
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!busy && password) void begin(password);
        }}
        data-testid="mfa-password-step"
      >
        <p class="muted mfa-lead">
          Two-factor authentication asks for a code from an app on your phone at each sign-in, so a stolen password
          alone does not open your account. Enter your password to begin.
        </p>
        <label class="field">
          <span>Current password</span>
          <input
            class="input"
            type="password"
            name="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            data-testid="mfa-password"
          />
        </label>
        <ErrorText error={step.error} />
        <StepActions
          layout={props.layout}
          wide={props.wide}
          label={busy ? 'Checking…' : 'Continue'}
          disabled={busy || !password}
          cancelLabel={cancelLabel}
          onCancel={props.onCancel}
          testid="mfa-begin"
        />
      </form>
    );
  }

  if (step.kind === 'scan') {
    return (
      <form onSubmit={confirm} data-testid="mfa-scan-step">
        <p class="muted mfa-lead">
          Scan this QR code with an authenticator app (Google Authenticator, Aegis, 1Password, Authy and the like), then
          enter the 6-digit code it shows.
        </p>
        <div class="mfa-scan">
          <QrCode text={step.uri} />
          <div class="mfa-key">
            <span class="faint">Cannot scan it? Enter this key in the app:</span>
            <code class="mfa-secret" data-testid="mfa-secret" data-secret={step.secret}>
              {groupsOfFour(step.secret)}
            </code>
            <button type="button" class="btn btn-sm" onClick={() => void copy(step.secret, 'Key')}>
              Copy key
            </button>
          </div>
        </div>
        <CodeField value={code} onInput={setCode} label="Code from the app" autoFocus />
        <ErrorText error={error} />
        <StepActions
          layout={props.layout}
          wide={props.wide}
          label={busy ? 'Checking…' : 'Turn on'}
          disabled={busy || !codeComplete(code)}
          cancelLabel={cancelLabel}
          onCancel={props.onCancel}
          testid="mfa-confirm"
        />
      </form>
    );
  }

  return (
    <div data-testid="mfa-codes-step">
      <p class="mfa-on" role="status">
        Two-factor authentication is on.
      </p>
      <RecoveryCodes codes={step.codes} {...(props.username ? { username: props.username } : {})} />
      <div class={props.layout === 'modal' ? 'modal-actions' : 'mfa-done'}>
        <button
          type="button"
          class={`btn btn-primary${props.layout === 'card' ? ` ${props.wide ?? 'btn-block'}` : ''}`}
          onClick={props.onDone}
          data-testid="mfa-done"
        >
          I have stored them
        </button>
      </div>
    </div>
  );
}
