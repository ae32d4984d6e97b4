/*
 * The pushes of this app, newest first, paged with `before`; a row opens the
 * push's funnel. Chat-message pushes are not listed (the server leaves them out).
 */
import { listPushes, type PushSummary } from './api';
import { ago, count, dateTime, percent } from './format';
import { go, usePaged } from './hooks';
import { Icon } from './icons';
import { DataTable, ListState } from './lists';
import { Empty, PageHeader, Status } from './widgets';

export function PushList() {
  const pushes = usePaged((before) => listPushes(before), '');
  return (
    <div class="page">
      <PageHeader title="Push" sub="Notifications sent to your users, and how they did.">
        <button type="button" class="btn" onClick={pushes.reload} aria-label="Refresh">
          <Icon name="refresh" size={16} />
        </button>
        <a class="btn btn-primary" href="#/push/new" data-testid="new-push">
          <Icon name="plus" size={16} /> New push
        </a>
      </PageHeader>
      <ListState
        list={pushes}
        more={pushes.next !== null ? pushes.loadMore : null}
        empty={
          <Empty card icon="bell" title="No pushes yet">
            Send a notification to some users, a topic, a tag or everyone.
            <div class="empty-action">
              <a class="btn btn-primary" href="#/push/new">
                Compose a push
              </a>
            </div>
          </Empty>
        }
      >
        {(items) => (
          <DataTable
            testid="push-table"
            columns={[
              'Push',
              'State',
              { label: 'Targeted', num: true },
              { label: 'Sent', num: true },
              { label: 'Opened', num: true },
              { label: 'Clicked', num: true },
              'Created',
            ]}
          >
            {items.map((p) => (
              <PushRow key={p.id} push={p} />
            ))}
          </DataTable>
        )}
      </ListState>
    </div>
  );
}

function PushRow(props: { push: PushSummary }) {
  const p = props.push;
  return (
    <tr class="row-link" onClick={() => go(`push/${p.id}`)}>
      <td data-label="Push" class="cell-main">
        <a href={`#/push/${p.id}`} class="row-anchor">
          <strong class="ellipsis">{p.notification.title}</strong>
          <span class="faint mono">#{p.id}</span>
        </a>
      </td>
      <td data-label="State">
        <PushState push={p} />
      </td>
      <td data-label="Targeted" class="num">
        {count(p.counts.targeted)}
      </td>
      <td data-label="Sent" class="num">
        {count(p.counts.sent)}
      </td>
      <td data-label="Opened" class="num">
        {count(p.counts.opened)} {p.counts.sent > 0 ? <span class="faint">{percent(p.counts.opened, p.counts.sent)}</span> : null}
      </td>
      <td data-label="Clicked" class="num">
        {count(p.counts.clicked)} {p.counts.sent > 0 ? <span class="faint">{percent(p.counts.clicked, p.counts.sent)}</span> : null}
      </td>
      <td data-label="Created" class="muted nowrap" title={dateTime(p.created_at)}>
        {ago(p.created_at)}
      </td>
    </tr>
  );
}

/** "Expanding", "Sending" (deliveries queued), "Scheduled" (only pending ones) or "Done". */
export function PushState(props: { push: PushSummary }) {
  const c = props.push.counts;
  if (props.push.state === 'expanding') return <Status tone="accent">Expanding</Status>;
  const pending = c.by_channel.pending?.queued ?? 0;
  if (c.queued > 0 && pending === c.queued) return <Status tone="warn">Scheduled</Status>;
  if (c.queued > 0) return <Status tone="accent">Sending</Status>;
  return <Status tone="ok">Done</Status>;
}
