/*
 * Conversations: search (group titles, members' usernames), a table, a members
 * drawer, and delete. Deleting removes the conversation with all its messages
 * for every member, so it asks first and says so.
 */
import { useState } from 'preact/hooks';
import { Avatar, toast } from '../shared/ui';
import { deleteConversation, listConvMembers, listConversations, memberId, memberName, type AdminConv } from './api';
import { ago, count, dateTime, plural } from './format';
import { Confirm } from './dialogs';
import { useAsync, useDebounced, usePaged } from './hooks';
import { Icon } from './icons';
import { DataTable, ListState, asList } from './lists';
import { Drawer, Empty, PageHeader, SearchBar } from './widgets';

function convName(c: AdminConv): string {
  return c.title ?? (c.type === 'direct' ? `Direct chat ${c.id}` : `Group ${c.id}`);
}

export function Conversations() {
  const [q, setQ] = useState('');
  const query = useDebounced(q.trim());
  const convs = usePaged((after) => listConversations(query, after), query);
  const [members, setMembers] = useState<AdminConv | null>(null);
  const [deleting, setDeleting] = useState<AdminConv | null>(null);

  return (
    <div class="page">
      <PageHeader title="Conversations" sub="Direct chats and groups on this server." />
      <SearchBar
        value={q}
        onInput={setQ}
        label="Search conversations"
        placeholder="Search by group title or member"
        busy={convs.loading && convs.items.length > 0}
      />
      <ListState
        list={convs}
        more={convs.next !== null ? convs.loadMore : null}
        empty={
          <Empty card icon="chats" title={query ? `No conversation matches “${query}”` : 'No conversations yet'}>
            {query ? 'Search matches group titles and members’ usernames.' : 'They appear here once people start chatting.'}
          </Empty>
        }
      >
        {(items) => (
          <DataTable
            testid="conversations-table"
            columns={[
              'Conversation',
              'Type',
              { label: 'Members', num: true },
              { label: 'Events', num: true },
              'Last activity',
              'Created',
              { label: 'Actions', hidden: true },
            ]}
          >
            {items.map((c) => (
              <ConvRow key={c.id} conv={c} onMembers={() => setMembers(c)} onDelete={() => setDeleting(c)} />
            ))}
          </DataTable>
        )}
      </ListState>
      {members ? <MembersDrawer conv={members} onClose={() => setMembers(null)} onDelete={() => setDeleting(members)} /> : null}
      {deleting ? (
        <Confirm
          title={`Delete “${convName(deleting)}”?`}
          confirm="Delete conversation"
          danger
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await deleteConversation(deleting.id);
            convs.update((x) => x.id === deleting.id, null);
            setMembers(null);
            toast('Conversation deleted', `${convName(deleting)} and its ${plural(deleting.last_seq, 'event')} are gone.`);
          }}
        >
          All its messages, its member list and read state are deleted, and the apps of its{' '}
          {plural(deleting.members, 'member')} drop it. This cannot be undone.
        </Confirm>
      ) : null}
    </div>
  );
}

function ConvRow(props: { conv: AdminConv; onMembers: () => void; onDelete: () => void }) {
  const c = props.conv;
  return (
    <tr>
      <td data-label="Conversation" class="cell-main">
        <div class="who-cell">
          <span class={`conv-icon conv-${c.type}`}>
            <Icon name={c.type === 'direct' ? 'chat' : 'users'} size={16} />
          </span>
          <div class="who-text">
            <strong class="ellipsis">{convName(c)}</strong>
            <span class="faint mono">#{c.id}</span>
          </div>
        </div>
      </td>
      <td data-label="Type">
        <span class="tag">{c.type === 'direct' ? 'Direct' : c.type === 'group' ? 'Group' : c.type}</span>
      </td>
      <td data-label="Members" class="num">
        {count(c.members)}
      </td>
      <td data-label="Events" class="num">
        {count(c.last_seq)}
      </td>
      <td data-label="Last activity" class="muted nowrap">
        {c.last_ts ? ago(c.last_ts) : '–'}
      </td>
      <td data-label="Created" class="muted nowrap">
        {dateTime(c.created_at)}
      </td>
      <td class="cell-actions">
        <div class="row-actions">
          <button type="button" class="btn btn-sm" onClick={props.onMembers}>
            Members
          </button>
          <button
            type="button"
            class="btn btn-sm btn-ghost danger-text"
            onClick={props.onDelete}
            aria-label={`Delete ${convName(c)}`}
          >
            <Icon name="trash" size={16} />
            Delete
          </button>
        </div>
      </td>
    </tr>
  );
}

function MembersDrawer(props: { conv: AdminConv; onClose: () => void; onDelete: () => void }) {
  const members = useAsync(() => listConvMembers(props.conv.id), [props.conv.id]);
  const c = props.conv;
  return (
    <Drawer title={convName(c)} sub={`${c.type === 'direct' ? 'Direct chat' : 'Group'} · ${count(c.members)} members`} onClose={props.onClose}>
      <dl class="kv">
        <dt>Id</dt>
        <dd class="mono">{c.id}</dd>
        <dt>Created</dt>
        <dd>{dateTime(c.created_at)}</dd>
        <dt>Last activity</dt>
        <dd>{c.last_ts ? dateTime(c.last_ts) : 'None yet'}</dd>
        <dt>Events</dt>
        <dd>{count(c.last_seq)}</dd>
      </dl>
      <section class="drawer-section">
        <h3>Members</h3>
        <ListState list={asList(members)} empty={<p class="muted">No current members.</p>}>
          {(items) => (
            <ul class="member-list" data-testid="members">
              {items.map((m) => (
                <li key={memberId(m)} class="member">
                  <Avatar name={memberName(m)} size="sm" />
                  <div class="who-text">
                    <strong>{memberName(m)}</strong>
                    <span class="faint">user id {memberId(m)}</span>
                  </div>
                  <span class={`tag${m.role === 'owner' ? ' tag-accent' : ''}`}>{m.role}</span>
                </li>
              ))}
            </ul>
          )}
        </ListState>
      </section>
      <section class="drawer-section">
        <h3>Danger zone</h3>
        <button type="button" class="btn btn-danger" onClick={props.onDelete}>
          <Icon name="trash" size={16} /> Delete conversation
        </button>
      </section>
    </Drawer>
  );
}
