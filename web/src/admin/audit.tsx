/*
 * The audit log: who did what to what, from where, and how it ended, newest
 * first, with filters (actor, action, a time range) and "Load more". "Verify
 * integrity" walks the server's hash chain and signed checkpoints; a broken
 * chain is shown as an alert with the first record that does not check out,
 * and the rows on screen mark it.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { errorText, listAudit, verifyAudit, type AuditFilter, type AuditRecord, type AuditVerdict } from './api';
import { ago, dateTime, plural } from './format';
import { useDebounced, usePaged } from './hooks';
import { Icon } from './icons';
import { DataTable, ListState } from './lists';
import { CopyField, Empty, ErrorBox, PageHeader, SearchBar, Status } from './widgets';

/** The actions the server records, in words; an action not listed here shows by its name. */
const ACTIONS: [string, string][] = [
  ['auth.login', 'Sign-in'],
  ['auth.logout', 'Sign-out'],
  ['user.register', 'Registration'],
  ['user.create', 'User created'],
  ['user.update', 'User changed'],
  ['user.password_reset', 'Password reset'],
  ['user.password_change', 'Password changed'],
  ['session.revoke', 'Session revoked'],
  ['session.revoke_all', 'All sessions revoked'],
  ['session.revoke_others', 'Other sessions revoked'],
  ['mfa.begin', 'MFA setup begun'],
  ['mfa.enable', 'MFA turned on'],
  ['mfa.disable', 'MFA turned off'],
  ['mfa.recovery_codes', 'New recovery codes'],
  ['mfa.reset', 'MFA reset by an admin'],
  ['conv.delete', 'Conversation deleted'],
  ['app.update', 'App settings changed'],
  ['api_key.create', 'API key created'],
  ['api_key.revoke', 'API key revoked'],
  ['webhook.create', 'Webhook created'],
  ['webhook.update', 'Webhook changed'],
  ['webhook.delete', 'Webhook deleted'],
  ['webhook.rotate_secret', 'Webhook secret rotated'],
  ['webhook.ping', 'Webhook pinged'],
  ['webhook.retry', 'Webhook delivery retried'],
  ['push_category.put', 'Push category saved'],
  ['push_category.delete', 'Push category deleted'],
  ['server.start', 'Server started'],
  ['server.stop', 'Server stopped'],
];
const ACTION_LABEL = new Map(ACTIONS);

/** Actors without a name of their own. */
const FIXED_ACTORS: Record<string, string> = { system: 'System', anonymous: 'Anonymous', cli: 'Command line' };

/**
 * A datetime-local value as ms in the browser's time zone; null when empty. The
 * input shows minutes, so the end of a range takes in the whole of its minute.
 */
function inputMs(value: string, end: boolean): number | null {
  const ms = new Date(value).getTime();
  if (value === '' || Number.isNaN(ms)) return null;
  return end ? ms + 59_999 : ms;
}

export function Audit() {
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const filter: AuditFilter = { actor: useDebounced(actor.trim()), action, from: inputMs(from, false), to: inputMs(to, true) };
  const filtered = filter.actor !== '' || action !== '' || filter.from !== null || filter.to !== null;
  const records = usePaged((before) => listAudit(filter, before), JSON.stringify(filter));
  const verify = useVerify();
  const bad = verify.verdict?.ok === false ? verify.verdict.record : undefined;

  const clear = () => {
    setActor('');
    setAction('');
    setFrom('');
    setTo('');
  };

  return (
    <div class="page">
      <PageHeader title="Audit log" sub="Sign-ins and every change made by admins and API keys, refusals included.">
        <button type="button" class="btn" onClick={records.reload} aria-label="Refresh">
          <Icon name="refresh" size={16} />
        </button>
        <button type="button" class="btn btn-primary" onClick={verify.run} disabled={verify.busy}>
          <Icon name="shield" size={16} /> {verify.busy ? 'Verifying…' : 'Verify integrity'}
        </button>
      </PageHeader>
      {verify.error ? <ErrorBox message={verify.error} onRetry={verify.run} /> : null}
      {verify.verdict ? <VerdictCard verdict={verify.verdict} /> : null}
      <SearchBar
        value={actor}
        onInput={setActor}
        label="Filter by actor"
        placeholder="Actor: a username, user:7, key:2, system…"
        busy={records.loading && records.items.length > 0}
      >
        <label class="filter">
          <span class="sr-only">Action</span>
          <select class="input" value={action} onChange={(e) => setAction(e.currentTarget.value)}>
            <option value="">All actions</option>
            {ACTIONS.map(([name, label]) => (
              <option key={name} value={name}>
                {label} ({name})
              </option>
            ))}
          </select>
        </label>
        <label class="filter">
          <span class="faint">From</span>
          <input class="input" type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label class="filter">
          <span class="faint">To</span>
          <input class="input" type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        {filtered ? (
          <button type="button" class="btn btn-ghost" onClick={clear}>
            Clear filters
          </button>
        ) : null}
      </SearchBar>
      <ListState
        list={records}
        more={records.next !== null ? records.loadMore : null}
        empty={
          <Empty card icon="shield" title={filtered ? 'No records match these filters' : 'No records yet'}>
            {filtered ? 'An actor is a username, user:<id>, key:<id>, system, anonymous or cli.' : 'Sign-ins and admin changes appear here.'}
          </Empty>
        }
      >
        {(items) => (
          <DataTable testid="audit-table" columns={['Time', 'Actor', 'IP', 'Action', 'Target', 'Outcome', 'Detail']}>
            {items.map((r) => (
              <AuditRow key={r.id} record={r} broken={r.id === bad} />
            ))}
          </DataTable>
        )}
      </ListState>
    </div>
  );
}

function AuditRow(props: { record: AuditRecord; broken: boolean }) {
  const r = props.record;
  const failed = r.outcome !== 'ok';
  const label = ACTION_LABEL.get(r.action);
  const named = r.actor_name ?? FIXED_ACTORS[r.actor];
  return (
    <tr class={`${failed ? 'row-failed' : ''}${props.broken ? ' row-broken' : ''}`} data-id={r.id}>
      <td data-label="Time" class="nowrap" title={new Date(r.ts).toISOString()}>
        <div class="who-text">
          <span>{dateTime(r.ts)}</span>
          <span class="faint">
            <span class="mono">#{r.id}</span> · {ago(r.ts)}
          </span>
        </div>
      </td>
      <td data-label="Actor" class="cell-main" title={r.actor}>
        <Named name={<strong class="ellipsis">{named ?? r.actor}</strong>} code={r.actor_name !== null ? r.actor : null} />
      </td>
      <td data-label="IP" class="mono nowrap">
        {r.ip ?? <span class="faint">–</span>}
      </td>
      <td data-label="Action">
        <Named name={<span>{label ?? r.action}</span>} code={label ? r.action : null} />
      </td>
      <td data-label="Target" class="mono">
        {r.target ?? <span class="faint">–</span>}
      </td>
      <td data-label="Outcome">
        <span class="tags">
          {failed ? <Status tone="danger">{r.outcome}</Status> : <Status tone="ok">ok</Status>}
          {props.broken ? <Status tone="danger">Does not check out</Status> : null}
        </span>
      </td>
      <td data-label="Detail" class="audit-detail">
        <Detail record={r} />
      </td>
    </tr>
  );
}

/** A name for people over the code the server records ("admin" over "user:1"); the code alone when that is all there is. */
function Named(props: { name: ComponentChildren; code: string | null }) {
  return (
    <div class="who-text">
      {props.name}
      {props.code !== null ? <span class="faint mono">{props.code}</span> : null}
    </div>
  );
}

/** "role: admin, username: zoe" on one line; opened, the JSON as sent and the record's hash. */
function Detail(props: { record: AuditRecord }) {
  const d = props.record.detail;
  const line = d
    ? Object.entries(d)
        .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', ')
    : 'No detail';
  return (
    <details>
      <summary class={d ? 'mono' : 'faint'}>{line}</summary>
      {d ? <pre class="mono pre">{JSON.stringify(d, null, 2)}</pre> : null}
      <div class="faint mono break">hash {props.record.hash}</div>
    </details>
  );
}

interface Verify {
  busy: boolean;
  error: string | null;
  verdict: AuditVerdict | null;
  run: () => void;
}

function useVerify(): Verify {
  const [state, setState] = useState<Omit<Verify, 'run'>>({ busy: false, error: null, verdict: null });
  const run = () => {
    setState((s) => ({ ...s, busy: true, error: null }));
    verifyAudit().then(
      (verdict) => setState({ busy: false, error: null, verdict }),
      (err) => setState({ busy: false, error: errorText(err), verdict: null }),
    );
  };
  return { ...state, run };
}

/** What verify found: a quiet "intact", or an alert nobody can miss; and the key to check it with elsewhere. */
function VerdictCard(props: { verdict: AuditVerdict }) {
  const v = props.verdict;
  const checked = `${plural(v.records, 'record')}, ${plural(v.checkpoints, 'signed checkpoint')}`;
  return (
    <section class={`card verdict ${v.ok ? 'verdict-ok' : 'verdict-bad'}`} data-testid="audit-verdict" role={v.ok ? 'status' : 'alert'}>
      {v.ok ? (
        <div class="verdict-head">
          <Icon name="check" size={22} />
          <strong>Intact: {checked}</strong>
        </div>
      ) : (
        <>
          <div class="verdict-head">
            <Icon name="warn" size={26} />
            <strong class="verdict-title">
              {v.record ? `Integrity check failed at record ${v.record}` : 'Integrity check failed'}
            </strong>
          </div>
          <p class="verdict-problem">{v.problem}</p>
          <p class="muted">
            Checked before the problem: {checked}. The database was changed outside pipit, or is damaged: compare it
            with a backup and with the checkpoints kept elsewhere.
          </p>
        </>
      )}
      <label class="field">
        <span>Public key of the signed checkpoints</span>
        <CopyField value={v.public_key} label="Audit public key" testid="audit-public-key" />
        <small class="faint">
          Keep a copy of this key away from this machine: <span class="mono">pipit audit verify --public-key</span> then
          tells this log from one rewritten with a replaced key.
        </small>
      </label>
    </section>
  );
}
