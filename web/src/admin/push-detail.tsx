/*
 * One push: its funnel, what was sent and to whom (push-facts.tsx), deliveries
 * by state with the reasons for failures and suppressions, the funnel per
 * channel, and for an A/B test its variants (push-ab.tsx). Counts keep moving after a send
 * (deliveries, opens), so the page refreshes: every second at first, while a
 * fresh push is expanded, then every 3 s, for about 10 minutes in all.
 */
import { PipitError } from '@pipit/sdk';
import { useEffect, useState } from 'preact/hooks';
import { errorText, getPush, type Push } from './api';
import { FunnelColumns, GroupBars, StateBar } from './charts';
import { count, dateTime } from './format';
import { Icon } from './icons';
import { AbTest } from './push-ab';
import { PushFacts, scheduleText } from './push-facts';
import { PushState } from './push-list';
import { ErrorBox, Loading, PageHeader } from './widgets';

const FAST_MS = 1000;
const FAST_REFRESHES = 10;
const REFRESH_MS = 3000;
const MAX_REFRESHES = 200;

const CHANNELS: Record<string, string> = {
  inapp: 'In the app',
  webpush: 'Web Push',
  apns: 'Apple (APNs)',
  fcm: 'Android (FCM)',
  unifiedpush: 'UnifiedPush',
  pending: 'Waiting for its time',
  none: 'Nothing to send to',
};

const REASONS: Record<string, string> = {
  no_device: 'offline, with no device',
  opted_out: 'turned the category off',
  capped: 'over their cap for the category',
  quiet_hours: 'quiet hours',
  holdout: 'drawn into the holdout',
  muted: 'muted the conversation',
  gone: 'device no longer exists',
  rejected: 'provider refused it',
  unauthorized: "provider refused the server's credentials",
  payload_too_large: 'too large for the channel',
  private_address: 'endpoint on a private address',
  retries_exhausted: 'provider kept failing',
  not_configured: 'channel not configured',
  bad_keys: 'device without usable keys',
  bad_endpoint: 'unusable endpoint',
  no_topic: 'APNs device without a topic',
  device_gone: 'device deleted before sending',
  unknown_channel: 'unknown channel',
  local_error: 'server error',
};

function usePush(id: number) {
  const [push, setPush] = useState<Push | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(true);
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let n = 0;
    setPush(null);
    setError(null);
    setLive(true);
    const tick = async () => {
      try {
        const p = await getPush(id);
        if (!alive) return;
        setPush(p);
        setError(null);
      } catch (err) {
        if (!alive) return;
        setError(errorText(err));
        if (err instanceof PipitError && err.status === 404) return; // nothing will appear later
      }
      if (++n < MAX_REFRESHES) timer = setTimeout(tick, n < FAST_REFRESHES ? FAST_MS : REFRESH_MS);
      else setLive(false);
    };
    void tick();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [id]);
  return { push, error, live };
}

export function PushDetail(props: { id: number }) {
  const { push, error, live } = usePush(props.id);
  if (push === null) {
    return (
      <div class="page">
        <PageHeader title={`Push #${props.id}`} back="#/push" />
        {error ? <ErrorBox message={error} /> : <Loading />}
      </div>
    );
  }
  const c = push.counts;
  const channels = Object.entries(c.by_channel).sort((a, b) => b[1].sent - a[1].sent);
  const reasons = [
    ...Object.entries(c.suppressed_by).map(([k, v]) => ({ kind: 'suppressed', k, v })),
    ...Object.entries(c.failed_by).map(([k, v]) => ({ kind: 'failed', k, v })),
  ];
  return (
    <div class="page" data-testid="push-detail">
      <PageHeader title={push.notification.title} sub={`Push #${push.id} · ${dateTime(push.created_at)}`} back="#/push">
        <PushState push={push} />
        {live ? <span class="faint live-note">updating live</span> : null}
      </PageHeader>
      {error ? <ErrorBox message={`Could not refresh: ${error}`} /> : null}
      {push.send_at !== undefined && push.send_at > Date.now() ? (
        <p class="notice" data-testid="scheduled">
          <Icon name="clock" size={16} />
          <span>Goes out {scheduleText(push)}. Its deliveries wait until then.</span>
        </p>
      ) : null}
      {push.state === 'done' && c.targeted === 0 ? (
        <p class="notice" data-testid="reached-no-one">
          No user matched this audience, so nothing was sent.
        </p>
      ) : null}

      <div class="detail-grid">
        <section class="card panel">
          <header class="panel-head">
            <h2>Funnel</h2>
            <span class="faint">deliveries to users and their devices</span>
          </header>
          <FunnelColumns
            label="Funnel"
            steps={[
              { label: 'targeted', value: c.targeted },
              { label: 'sent', value: c.sent },
              { label: 'delivered', value: c.delivered },
              { label: 'opened', value: c.opened },
              { label: 'clicked', value: c.clicked },
            ]}
          />
        </section>
        <section class="card panel">
          <header class="panel-head">
            <h2>Details</h2>
          </header>
          <PushFacts push={push} />
        </section>
      </div>

      {push.variants ? <AbTest variants={push.variants} holdout={push.holdout ?? 0} counts={c.by_variant ?? {}} /> : null}

      <div class="detail-grid">
        <section class="card panel">
          <header class="panel-head">
            <h2>By state</h2>
            <span class="faint">every delivery is in one state</span>
          </header>
          <StateBar counts={c} />
          {reasons.length > 0 ? (
            <ul class="reasons" aria-label="Reasons">
              {reasons.map((r) => (
                <li key={`${r.kind}-${r.k}`} class={`reason reason-${r.kind}`}>
                  <strong>{count(r.v)}</strong> {r.kind}: <span class="mono">{r.k}</span>
                  <span class="faint"> — {REASONS[r.k] ?? r.k}</span>
                </li>
              ))}
            </ul>
          ) : null}
        </section>
        <section class="card panel">
          <header class="panel-head">
            <h2>By channel</h2>
          </header>
          {channels.length === 0 ? (
            <p class="panel-empty muted">No deliveries yet.</p>
          ) : (
            <GroupBars label="Funnel by channel" groups={channels} nameOf={(ch) => CHANNELS[ch] ?? ch} />
          )}
        </section>
      </div>
    </div>
  );
}
