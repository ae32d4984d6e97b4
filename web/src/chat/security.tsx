/*
 * Security settings: two-factor authentication (turn on, turn off, new recovery
 * codes), the user's signed-in sessions (sign one out, or all but this one), and
 * the password. Each step that changes something opens its own small dialog over
 * this one, so the list behind it stays as it was until the change is done.
 *
 * A password change ends every session, this one too: the store swaps in the
 * new token and reconnects (store.changePassword), so the page goes on working.
 */
import { PipitError, type MfaStatus, type SessionInfo } from '@pipit/sdk';
import { useEffect, useState } from 'preact/hooks';
import { CodeField, MfaSetup, RecoveryCodes, codeComplete } from '../shared/mfa';
import { ErrorText, FormActions, Modal, toast } from '../shared/ui';
import { errorText, lastSeen } from './format';
import { useStore } from './hooks';

type Dialog = 'enable' | 'disable' | 'codes' | null;

export function SecurityModal(props: { onClose: () => void }) {
  // Bumped after a change that reshapes the session list (a password change ends the others).
  const [sessionsRev, setSessionsRev] = useState(0);
  return (
    <Modal title="Security" onClose={props.onClose}>
      {/* Focused on open instead of the password field below, which would raise a phone's keyboard. */}
      <div data-testid="security" class="security" tabIndex={-1} autoFocus>
        <TwoFactor />
        <Sessions rev={sessionsRev} />
        <ChangePassword onChanged={() => setSessionsRev((r) => r + 1)} />
      </div>
      <div class="modal-actions">
        <button type="button" class="btn" onClick={props.onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}

function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [rev, setRev] = useState(0);
  useEffect(() => {
    let live = true;
    setError(null);
    load().then(
      (d) => live && setData(d),
      (err) => live && setError(errorText(err)),
    );
    return () => void (live = false);
  }, [...deps, rev]);
  return { data, error, reload: () => setRev((r) => r + 1) };
}

function Loading(props: { what: string; error: string | null; retry: () => void }) {
  return props.error ? (
    <div role="alert">
      <p class="error-text">
        Could not load {props.what}. {props.error}
      </p>
      <button type="button" class="btn btn-sm" onClick={props.retry}>
        Try again
      </button>
    </div>
  ) : (
    <div class="loading-line faint">
      <span class="spinner spinner-sm" aria-hidden="true" />
      Loading {props.what}…
    </div>
  );
}

/* ================================================ two-factor authentication */

function TwoFactor() {
  const store = useStore();
  const status = useLoad(() => store.client.mfaStatus(), []);
  const [dialog, setDialog] = useState<Dialog>(null);
  const s = status.data;
  const done = (message: string) => {
    setDialog(null);
    status.reload();
    toast(message);
  };

  return (
    <fieldset class="settings-group" data-testid="mfa-section">
      <legend>Two-factor authentication</legend>
      {!s ? (
        <Loading what="the two-factor status" error={status.error} retry={status.reload} />
      ) : (
        <>
          <div class="switch-row security-row">
            <span>
              <span class="switch-label">Authenticator app</span>
              <span class="faint" data-testid="mfa-hint">
                {s.enabled ? mfaOnHint(s) : 'Off: your password alone signs you in.'}
              </span>
            </span>
            {s.enabled ? (
              <span class="tag tag-ok" data-testid="mfa-state">
                On
              </span>
            ) : (
              <span class="tag" data-testid="mfa-state">
                Off
              </span>
            )}
          </div>
          <div class="security-actions">
            {s.enabled ? (
              <>
                <button type="button" class="btn btn-sm" onClick={() => setDialog('codes')} data-testid="new-recovery-codes">
                  New recovery codes
                </button>
                <button
                  type="button"
                  class="btn btn-sm btn-danger"
                  disabled={s.required}
                  onClick={() => setDialog('disable')}
                  data-testid="disable-mfa"
                >
                  Turn off
                </button>
              </>
            ) : (
              <button type="button" class="btn btn-sm btn-primary" onClick={() => setDialog('enable')} data-testid="enable-mfa">
                Turn on
              </button>
            )}
          </div>
          {s.enabled && s.required ? <p class="faint security-note">This server requires it for your account, so it stays on.</p> : null}
        </>
      )}
      {dialog === 'enable' ? (
        <Modal title="Turn on two-factor authentication" onClose={() => setDialog(null)}>
          <MfaSetup
            client={store.client}
            username={store.me.username}
            layout="modal"
            onCancel={() => {
              setDialog(null);
              status.reload(); // a setup left half-way shows as pending on the server, nothing more
            }}
            onDone={() => done('Two-factor authentication is on')}
          />
        </Modal>
      ) : null}
      {dialog === 'disable' ? <DisableMfa onClose={() => setDialog(null)} onDone={() => done('Two-factor authentication is off')} /> : null}
      {dialog === 'codes' ? <NewRecoveryCodes onClose={() => setDialog(null)} onDone={() => (setDialog(null), status.reload())} /> : null}
    </fieldset>
  );
}

function mfaOnHint(s: MfaStatus): string {
  const left = s.recovery_codes_left;
  const codes = left === 0 ? 'No recovery codes left: make new ones.' : `${left} recovery code${left === 1 ? '' : 's'} left.`;
  return `Sign-in asks for a code from your phone. ${codes}`;
}

/** A code from the app, with the switch to a recovery code. */
function CodeOrRecovery(props: { code: string; setCode: (v: string) => void; recovery: boolean; setRecovery: (v: boolean) => void }) {
  return (
    <>
      <CodeField key={props.recovery ? 'r' : 'c'} value={props.code} onInput={props.setCode} recovery={props.recovery} />
      <p class="code-switch">
        <button
          type="button"
          class="link-btn"
          onClick={() => {
            props.setRecovery(!props.recovery);
            props.setCode('');
          }}
          data-testid="toggle-recovery"
        >
          {props.recovery ? 'Use a code from the app instead' : 'Use a recovery code instead'}
        </button>
      </p>
    </>
  );
}

function DisableMfa(props: { onClose: () => void; onDone: () => void }) {
  const store = useStore();
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [recovery, setRecovery] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await store.client.mfaDisable(password, recovery ? { recoveryCode: code } : { code });
      props.onDone();
    } catch (err) {
      setError(
        err instanceof PipitError && err.code === 'forbidden'
          ? 'This server requires two-factor authentication for your account, so it cannot be turned off.'
          : errorText(err, recovery),
      );
      setCode('');
      setBusy(false);
    }
  };

  return (
    <Modal title="Turn off two-factor authentication?" onClose={props.onClose}>
      <form onSubmit={submit} data-testid="disable-mfa-form">
        <p class="muted confirm-text">Your password alone will sign you in again. Your recovery codes stop working.</p>
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
          />
        </label>
        <CodeOrRecovery code={code} setCode={setCode} recovery={recovery} setRecovery={setRecovery} />
        <ErrorText error={error} />
        <FormActions
          onCancel={props.onClose}
          label={busy ? 'Turning off…' : 'Turn off'}
          danger
          disabled={busy || !password || !codeComplete(code, recovery)}
          testid="confirm-disable-mfa"
        />
      </form>
    </Modal>
  );
}

function NewRecoveryCodes(props: { onClose: () => void; onDone: () => void }) {
  const store = useStore();
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy || !codeComplete(code)) return;
    setBusy(true);
    setError(null);
    try {
      setCodes(await store.client.mfaRecoveryCodes(code));
    } catch (err) {
      setError(errorText(err));
      setCode('');
    }
    setBusy(false);
  };

  return (
    <Modal title="New recovery codes" onClose={codes ? props.onDone : props.onClose}>
      {codes ? (
        <>
          <RecoveryCodes codes={codes} username={store.me.username} />
          <div class="modal-actions">
            <button type="button" class="btn btn-primary" onClick={props.onDone} data-testid="codes-done">
              I have stored them
            </button>
          </div>
        </>
      ) : (
        <form onSubmit={submit} data-testid="new-codes-form">
          <p class="muted confirm-text">A new set of ten codes replaces the old one: the codes you have now stop working.</p>
          <CodeField value={code} onInput={setCode} label="Code from your authenticator app" />
          <ErrorText error={error} />
          <FormActions onCancel={props.onClose} label={busy ? 'Making…' : 'Make new codes'} disabled={busy || !codeComplete(code)} testid="make-codes" />
        </form>
      )}
    </Modal>
  );
}

/* ================================================================ sessions */

function byRecent(a: SessionInfo, b: SessionInfo): number {
  if (a.current !== b.current) return a.current ? -1 : 1;
  if (a.online !== b.online) return a.online ? -1 : 1;
  return b.last_seen_at - a.last_seen_at;
}

function signedInOn(ms: number): string {
  return new Date(ms).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
}

function Sessions(props: { rev: number }) {
  const store = useStore();
  const list = useLoad(() => store.client.sessions(), [props.rev]);
  const [busy, setBusy] = useState<number | 'others' | null>(null);
  const sessions = list.data ? [...list.data].sort(byRecent) : null;
  const others = sessions?.filter((s) => !s.current).length ?? 0;

  const revoke = async (id: number | 'others') => {
    setBusy(id);
    try {
      if (id === 'others') await store.client.revokeOtherSessions();
      else await store.client.revokeSession(id);
      toast(id === 'others' ? 'Signed out everywhere else' : 'Session signed out');
    } catch (err) {
      // Gone already (it expired, another device ended it): the reload shows that.
      if (!(err instanceof PipitError && err.code === 'not_found')) toast('Could not sign it out', errorText(err), true);
    }
    setBusy(null);
    list.reload();
  };

  return (
    <fieldset class="settings-group" data-testid="sessions-section">
      <legend>Where you are signed in</legend>
      {!sessions ? (
        <Loading what="your sessions" error={list.error} retry={list.reload} />
      ) : (
        <>
          <ul class="session-list" data-testid="sessions">
            {sessions.map((s) => (
              <li key={s.id} class="session-row" data-testid="session" data-current={s.current ? 'true' : undefined}>
                <div class="session-main">
                  <span class="session-title">
                    <span class="session-device">{s.device ?? 'Unknown device'}</span>
                    {s.current ? <span class="tag tag-ok">This device</span> : null}
                  </span>
                  <span class="faint">
                    {s.ip} · {s.online ? <span class="presence-on">online now</span> : lastSeen(s.last_seen_at)} · signed in{' '}
                    {signedInOn(s.created_at)}
                  </span>
                </div>
                {s.current ? null : (
                  <button
                    type="button"
                    class="btn btn-sm"
                    disabled={busy !== null}
                    onClick={() => void revoke(s.id)}
                    aria-label={`Sign out ${s.device ?? 'this session'}`}
                    data-testid="revoke-session"
                  >
                    Sign out
                  </button>
                )}
              </li>
            ))}
          </ul>
          {others > 0 ? (
            <div class="security-actions">
              <button
                type="button"
                class="btn btn-sm btn-danger"
                disabled={busy !== null}
                onClick={() => void revoke('others')}
                data-testid="revoke-others"
              >
                {busy === 'others' ? 'Signing out…' : 'Sign out all other sessions'}
              </button>
            </div>
          ) : (
            <p class="faint security-note">You are signed in on this device only.</p>
          )}
        </>
      )}
    </fieldset>
  );
}

/* ================================================================ password */

function ChangePassword(props: { onChanged: () => void }) {
  const store = useStore();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    if (next.length < 8) {
      setError('Passwords need at least 8 characters.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await store.changePassword(current, next);
      setCurrent('');
      setNext('');
      toast('Password changed', 'You were signed out on every other device.');
      props.onChanged();
    } catch (err) {
      setError(errorText(err));
    }
    setBusy(false);
  };

  return (
    <form onSubmit={submit} noValidate data-testid="password-form">
      <fieldset class="settings-group">
        <legend>Password</legend>
        <label class="field">
          <span>Current password</span>
          <input
            class="input"
            type="password"
            name="current-password"
            autocomplete="current-password"
            required
            value={current}
            onInput={(e) => setCurrent(e.currentTarget.value)}
            data-testid="current-password"
          />
        </label>
        <label class="field">
          <span>New password</span>
          <input
            class="input"
            type="password"
            name="new-password"
            autocomplete="new-password"
            required
            minLength={8}
            value={next}
            onInput={(e) => setNext(e.currentTarget.value)}
            data-testid="new-password"
          />
          <small class="faint">At least 8 characters. Every other device is signed out.</small>
        </label>
        <ErrorText error={error} />
        <div class="security-actions">
          <button type="submit" class="btn btn-sm btn-primary" disabled={busy || !current || !next} data-testid="change-password">
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </fieldset>
    </form>
  );
}
