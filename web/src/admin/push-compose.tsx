/*
 * The push composer: audience, content, delivery options and an A/B test, with
 * a live lock-screen preview beside the form (below it on a phone). Sending
 * opens the new push's page, where its counts fill in.
 */
import { useMemo, useState } from 'preact/hooks';
import { ErrorText, toast } from '../shared/ui';
import { listCategories, sendPush } from './api';
import { plural } from './format';
import { go, useAsync, useSubmit } from './hooks';
import { Icon } from './icons';
import { buildPush, emptyDraft, parseUsers, type Draft } from './push-draft';
import { PushPreview } from './push-preview';
import { Audience, Content, Delivery } from './push-sections';
import { Variants } from './push-variants';
import { PageHeader } from './widgets';

/** 128 random bits as hex; getRandomValues works on plain-http origins too, unlike randomUUID. */
function randomKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function PushCompose() {
  const [d, setD] = useState<Draft>(emptyDraft);
  const [tried, setTried] = useState(false);
  // One key per form: a retry after a lost answer cannot send the push twice.
  const [dedupKey] = useState(randomKey);
  const categories = useAsync(listCategories, []);
  const set = (patch: Partial<Draft>) => setD((cur) => ({ ...cur, ...patch }));
  const built = useMemo(() => buildPush(d), [d]);
  // Data is checked as it is typed; the rest once a send was tried, so an empty form is not all red.
  const err = (f: string) => (tried || f === 'data' ? built.errors[f] : undefined);

  const { busy, error, submit } = useSubmit(async () => {
    setTried(true);
    if (Object.keys(built.errors).length > 0) throw new Error('Fix the fields marked in red.');
    const { id } = await sendPush({ ...built.push, dedup_key: dedupKey });
    toast(d.schedule === 'now' ? 'Push sent' : 'Push scheduled', `#${id}: ${built.push.notification.title}`);
    go(`push/${id}`);
  });

  return (
    <div class="page">
      <PageHeader title="New push" sub="Compose a notification for your users." back="#/push" />
      <form class="compose" onSubmit={submit} noValidate data-testid="compose">
        <div class="compose-form">
          <Audience d={d} set={set} err={err} />
          <Content d={d} set={set} err={err} categories={categories.data?.map((c) => c.name) ?? []} />
          <Delivery d={d} set={set} err={err} />
          <Variants d={d} set={set} err={err} />
        </div>
        <aside class="compose-side">
          <div class="compose-sticky">
            <PushPreview draft={d} />
            <div class="card card-pad send-card">
              <Summary d={d} />
              <ErrorText error={error} />
              <button type="submit" class="btn btn-primary btn-block" disabled={busy} data-testid="send-push">
                <Icon name="send" size={16} />
                {busy ? 'Sending…' : d.schedule === 'now' ? 'Send push' : 'Schedule push'}
              </button>
            </div>
          </div>
        </aside>
      </form>
    </div>
  );
}

function Summary({ d }: { d: Draft }) {
  if (d.target === 'users' && parseUsers(d.users).length === 0) {
    return <p class="summary">List the users to send it to.</p>;
  }
  const who =
    d.target === 'users'
      ? plural(parseUsers(d.users).length, 'listed user')
      : d.target === 'topic'
        ? `subscribers of “${d.topic.trim() || '…'}”`
        : d.target === 'tags'
          ? 'users with the tags'
          : 'every user';
  const when = d.schedule === 'now' ? 'now' : d.schedule === 'at' ? 'at the chosen time' : "at each user's local time";
  return (
    <p class="summary">
      To <strong>{who}</strong>, {when}
      {d.variants.length > 0 ? `, ${d.variants.length} variant${d.variants.length > 1 ? 's' : ''}` : ''}
      {d.priority === 'high' ? ', high priority' : ''}.
    </p>
  );
}
