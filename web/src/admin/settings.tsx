/*
 * The app's settings (GET/PATCH /v1/admin/app). For now one: who must use
 * two-factor authentication. The server refuses a user the policy covers who has
 * none yet everything but the enrolment, at once and in every session; the apps
 * take them there. That includes the admin saving it, who is warned first.
 */
import { useState } from 'preact/hooks';
import { ErrorText, toast } from '../shared/ui';
import { errorText, getApp, getMe, patchApp, type AppSettings, type MfaPolicy } from './api';
import { useAsync } from './hooks';
import { ErrorBox, Loading, PageHeader } from './widgets';

const POLICIES: { value: MfaPolicy; label: string; who: string; hint: string }[] = [
  { value: 'off', label: 'Nobody (each user chooses)', who: 'nobody', hint: 'Users can turn it on for themselves in the chat app’s security settings.' },
  {
    value: 'admins',
    label: 'Admins',
    who: 'admins',
    hint: 'Admins without it must set it up before they can do anything else: the console and the chat app take them there. They cannot turn it off. Other users choose.',
  },
  {
    value: 'all',
    label: 'Everyone',
    who: 'everyone',
    hint: 'Every user without it must set it up before they can do anything else: the apps take them there. Nobody can turn it off.',
  },
];

export function Settings() {
  const app = useAsync(() => Promise.all([getApp(), getMe()]), []);
  return (
    <div class="page">
      <PageHeader title="Settings" sub="How this server treats its users’ accounts." />
      {app.error ? (
        <ErrorBox message={app.error} onRetry={app.reload} />
      ) : !app.data ? (
        <Loading />
      ) : (
        <MfaPolicyForm app={app.data[0]} selfHasMfa={app.data[1].mfa_enabled === true} />
      )}
    </div>
  );
}

function MfaPolicyForm(props: { app: AppSettings; selfHasMfa: boolean }) {
  const [saved, setSaved] = useState<MfaPolicy | undefined>(props.app.mfa_required);
  const [policy, setPolicy] = useState<MfaPolicy>(saved ?? 'off');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const chosen = POLICIES.find((p) => p.value === policy) ?? POLICIES[0]!;

  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const app = await patchApp({ mfa_required: policy });
      setSaved(app.mfa_required);
      toast('Settings saved', `Two-factor authentication is required for ${chosen.who}.`);
    } catch (err) {
      setError(errorText(err));
    }
    setBusy(false);
  };

  return (
    <form class="card panel form-section" onSubmit={save} data-testid="mfa-policy-form">
      <div class="section-head">
        <div>
          <h2>Two-factor authentication</h2>
          <p class="muted">A code from an authenticator app at each sign-in, besides the password.</p>
        </div>
      </div>
      {saved === undefined ? (
        <p class="notice">This server does not say whether it requires two-factor authentication: it may be older than this console.</p>
      ) : null}
      <label class="field">
        <span>Required for</span>
        <select class="input policy-select" value={policy} onChange={(e) => setPolicy(e.currentTarget.value as MfaPolicy)} data-testid="mfa-policy">
          {POLICIES.map((p) => (
            <option key={p.value} value={p.value}>
              {p.label}
            </option>
          ))}
        </select>
        <small class="faint">{chosen.hint}</small>
      </label>
      {policy !== 'off' && policy !== saved && !props.selfHasMfa ? (
        <p class="warn-box" role="note" data-testid="policy-self-warning">
          This covers you too, and you have no two-factor authentication yet: set it up for your own account first
          (in the chat app's Security and sign-in), or the server refuses a policy that would lock you out of the console.
        </p>
      ) : null}
      <ErrorText error={error} />
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" disabled={busy || policy === saved} data-testid="save-policy">
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}
