/*
 * The details panel of a conversation. For a group: title, description and
 * announcement (editable by the owner and admins), "only admins can send",
 * members with their roles, and what your rank allows over each of them (role,
 * mute, remove, make owner), adding members, and leaving. For a direct chat:
 * the person. Both: muting the conversation's notifications.
 *
 * Permissions follow docs/protocol.md: settings and members need owner or
 * admin; removing and muting need a higher rank than the target; roles and
 * ownership need the owner; the owner cannot leave before handing over.
 */
import { PipitError, type Conversation, type Member, type Role } from '@pipit/sdk';
import { useEffect, useState } from 'preact/hooks';
import { Avatar, ErrorText, FormActions, Modal, toast } from '../shared/ui';
import { errorText, lastSeen } from './format';
import { go, useStore } from './hooks';
import { IconClose, IconEdit, IconMore } from './icons';
import { Menu, type MenuItem } from './menu';
import type { ChatStore } from './store';

const RANK: Record<Role, number> = { owner: 3, admin: 2, member: 1 };
const HOUR = 3_600_000;

export function DetailsPanel(props: { convId: number }) {
  const store = useStore();
  const conv = store.convs.get(props.convId);
  useEffect(() => void store.loadMembers(props.convId), [props.convId]);
  if (!conv) return null;
  const close = () => go(`#/c/${conv.id}`);
  return (
    <aside class="details" aria-label="Details" data-testid="details">
      <header class="details-head">
        <h2>{conv.type === 'group' ? 'Group info' : 'Contact info'}</h2>
        <button class="btn btn-ghost btn-icon" aria-label="Close details" onClick={close}>
          <IconClose />
        </button>
      </header>
      <div class="details-body">
        {conv.type === 'group' ? <GroupDetails store={store} conv={conv} /> : <DirectDetails store={store} conv={conv} />}
      </div>
    </aside>
  );
}

function DirectDetails(props: { store: ChatStore; conv: Conversation }) {
  const { store, conv } = props;
  const peer = conv.peer;
  const title = store.titleOf(conv);
  const online = peer ? store.isOnline(peer.id) : false;
  return (
    <>
      <div class="details-hero">
        <Avatar name={title} size="lg" online={online} />
        <h3>{title}</h3>
        {peer ? <div class="faint">@{peer.username}</div> : null}
        <div class={online ? 'presence-on' : 'muted'}>{online ? 'online' : lastSeen(peer?.last_seen)}</div>
      </div>
      <MuteToggle store={store} conv={conv} />
    </>
  );
}

function GroupDetails(props: { store: ChatStore; conv: Conversation }) {
  const { store, conv } = props;
  const canManage = conv.role === 'owner' || conv.role === 'admin';
  const [editing, setEditing] = useState(false);
  const [leaving, setLeaving] = useState(false);
  return (
    <>
      <div class="details-hero">
        <Avatar name={store.titleOf(conv)} size="lg" />
        <h3 data-testid="group-title">{store.titleOf(conv)}</h3>
        <div class="muted">
          Group · {conv.member_count} {conv.member_count === 1 ? 'member' : 'members'}
        </div>
        {canManage && !editing ? (
          <button class="btn btn-sm" onClick={() => setEditing(true)} data-testid="edit-group">
            <IconEdit /> Edit group
          </button>
        ) : null}
      </div>
      {editing ? (
        <GroupForm store={store} conv={conv} onDone={() => setEditing(false)} />
      ) : (
        <>
          <Section
            title="Description">{conv.description ? <p class="details-text">{conv.description}</p> : <p class="faint">No description.</p>}</Section
          >
          <Section
            title="Announcement">{conv.announcement ? <p class="details-text">{conv.announcement}</p> : <p class="faint">Nothing pinned.</p>}</Section
          >
        </>
      )}
      {canManage ? <AdminsOnlyToggle store={store} conv={conv} /> : null}
      <MuteToggle store={store} conv={conv} />
      <Members store={store} conv={conv} />
      <div class="details-section">
        {conv.role === 'owner' ? (
          <p class="faint">You own this group. To leave it, make another member the owner first.</p>
        ) : (
          <button class="btn btn-danger details-leave" onClick={() => setLeaving(true)} data-testid="leave-group">
            Leave group
          </button>
        )}
      </div>
      {leaving ? (
        <Confirm
          title="Leave this group?"
          text={`You will stop getting messages from “${store.titleOf(conv)}”, and need to be added again to come back.`}
          action="Leave"
          onClose={() => setLeaving(false)}
          onConfirm={async () => {
            await store.client.removeMember(conv.id, store.me.id);
            go('#/');
          }}
        />
      ) : null}
    </>
  );
}

function Section(props: { title: string; children: preact.ComponentChildren; aside?: preact.ComponentChildren }) {
  return (
    <section class="details-section">
      <div class="details-section-head">
        <h4>{props.title}</h4>
        {props.aside}
      </div>
      {props.children}
    </section>
  );
}

function GroupForm(props: { store: ChatStore; conv: Conversation; onDone: () => void }) {
  const { store, conv } = props;
  const [title, setTitle] = useState(conv.title ?? '');
  const [description, setDescription] = useState(conv.description ?? '');
  const [announcement, setAnnouncement] = useState(conv.announcement ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const save = async (e: Event) => {
    e.preventDefault();
    const patch: { title?: string; description?: string | null; announcement?: string | null } = {};
    if (title.trim() !== (conv.title ?? '')) patch.title = title.trim();
    if (description.trim() !== (conv.description ?? '')) patch.description = description.trim() || null;
    if (announcement.trim() !== (conv.announcement ?? '')) patch.announcement = announcement.trim() || null;
    if (Object.keys(patch).length === 0) return props.onDone();
    setBusy(true);
    setError(null);
    try {
      store.applySettings(await store.client.updateConversation(conv.id, patch));
      props.onDone();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <form class="details-section" onSubmit={save} data-testid="group-form">
      <label class="field">
        <span>Name</span>
        <input class="input" required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Description</span>
        <textarea class="input" rows={2} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Announcement</span>
        <textarea
          class="input"
          rows={2}
          placeholder="Pinned at the top of the chat"
          value={announcement}
          onInput={(e) => setAnnouncement(e.currentTarget.value)}
        />
      </label>
      <ErrorText error={error} />
      <FormActions inline onCancel={props.onDone} label="Save" disabled={busy || !title.trim()} />
    </form>
  );
}

/**
 * An on/off switch whose change is a request: it shows the new state at once,
 * and goes back (with the error said) if the request fails.
 */
interface AsyncSwitchProps {
  label: string;
  hint: string;
  checked: boolean;
  disabled?: boolean;
  onToggle: (next: boolean) => Promise<void>;
  /** The toast's title when the request fails. */
  failure: string;
  testid?: string;
}

function AsyncSwitch(props: AsyncSwitchProps) {
  const [wanted, setWanted] = useState<boolean | null>(null);
  const toggle = async () => {
    const next = !(wanted ?? props.checked);
    setWanted(next);
    try {
      await props.onToggle(next);
    } catch (err) {
      toast(props.failure, errorText(err), true);
    }
    setWanted(null);
  };
  return (
    <label class="switch-row details-section">
      <span>
        <span class="switch-label">{props.label}</span>
        <span class="faint">{props.hint}</span>
      </span>
      <input
        type="checkbox"
        role="switch"
        class="switch"
        checked={wanted ?? props.checked}
        disabled={props.disabled || wanted !== null}
        onChange={() => void toggle()}
        data-testid={props.testid}
      />
    </label>
  );
}

function AdminsOnlyToggle(props: { store: ChatStore; conv: Conversation }) {
  const { store, conv } = props;
  return (
    <AsyncSwitch
      label="Only admins can send"
      hint="Members can read but not write."
      checked={conv.muted_all}
      failure="Could not change who can send"
      onToggle={async (next) => store.applySettings(await store.client.updateConversation(conv.id, { muted_all: next }))}
      testid="admins-only"
    />
  );
}

function MuteToggle(props: { store: ChatStore; conv: Conversation }) {
  const { store, conv } = props;
  return (
    <AsyncSwitch
      label="Mute notifications"
      hint="Messages still arrive here, without a push."
      checked={store.settings?.muted_conversations.includes(conv.id) ?? false}
      disabled={!store.settings}
      failure="Could not change notifications"
      onToggle={(next) => store.setConvMuted(conv.id, next)}
      testid="mute-conv"
    />
  );
}

function Members(props: { store: ChatStore; conv: Conversation }) {
  const { store, conv } = props;
  const members = store.members.get(conv.id);
  const canAdd = conv.role === 'owner' || conv.role === 'admin';
  const list = members ? [...members.values()].sort((a, b) => RANK[b.role] - RANK[a.role] || store.nameOf(a.user.id).localeCompare(store.nameOf(b.user.id))) : [];
  const [transfer, setTransfer] = useState<Member | null>(null);
  return (
    <Section title={`Members${members ? ` (${list.length})` : ''}`}>
      {canAdd ? <AddMember store={store} conv={conv} /> : null}
      {!members && store.membersError.has(conv.id) ? (
        <div role="alert">
          <p class="error-text">Could not load the members. {store.membersError.get(conv.id)}</p>
          <button class="btn btn-sm" onClick={() => void store.loadMembers(conv.id)}>
            Try again
          </button>
        </div>
      ) : !members ? (
        <div class="faint loading-line">
          <span class="spinner" aria-hidden="true" /> Loading members…
        </div>
      ) : (
        <ul class="member-list" role="list" data-testid="members">
          {list.map((m) => (
            <MemberRow key={m.user.id} store={store} conv={conv} member={m} onTransfer={() => setTransfer(m)} />
          ))}
        </ul>
      )}
      {transfer ? (
        <Confirm
          title={`Make ${store.nameOf(transfer.user.id)} the owner?`}
          text="They get full control of the group, and you become an admin. Only they can undo this."
          action="Make owner"
          onClose={() => setTransfer(null)}
          onConfirm={() => store.client.transferOwnership(conv.id, transfer.user.id).then(() => undefined)}
        />
      ) : null}
    </Section>
  );
}

function MemberRow(props: { store: ChatStore; conv: Conversation; member: Member; onTransfer: () => void }) {
  const { store, conv, member } = props;
  const isMe = member.user.id === store.me.id;
  const name = store.nameOf(member.user.id);
  const muted = member.muted_until > Date.now();
  const items = memberActions(store, conv, member, props.onTransfer);
  return (
    <li class="member-row" data-testid="member" data-username={member.user.username}>
      <Avatar name={name} size="sm" online={store.isOnline(member.user.id)} />
      <span class="member-name">
        <span class="member-title">{isMe ? `${name} (you)` : name}</span>
        <span class="faint">@{member.user.username}</span>
      </span>
      {muted ? <span class="tag tag-danger">muted</span> : null}
      {member.role !== 'member' ? <span class={`tag role-${member.role}`}>{member.role}</span> : null}
      {items.length > 0 ? (
        <Menu label={`Actions for ${name}`} button={<IconMore />} items={items} buttonClass="btn btn-ghost btn-icon btn-sm" testid="member-menu" />
      ) : (
        <span class="member-menu-space" />
      )}
    </li>
  );
}

/** What your rank allows you to do to this member. */
function memberActions(store: ChatStore, conv: Conversation, member: Member, onTransfer: () => void): MenuItem[] {
  const user = member.user.id;
  if (user === store.me.id) return [];
  const run = (what: string, p: Promise<unknown>) => p.catch((err: unknown) => toast(`Could not ${what}`, errorText(err), true));
  const items: MenuItem[] = [];
  const above = RANK[conv.role] > RANK[member.role];
  if (conv.role === 'owner') {
    items.push(
      member.role === 'admin'
        ? { label: 'Remove admin role', onSelect: () => void run('change the role', store.client.setMemberRole(conv.id, user, 'member')) }
        : { label: 'Make admin', onSelect: () => void run('change the role', store.client.setMemberRole(conv.id, user, 'admin')), testid: 'make-admin' },
    );
  }
  if (above && (conv.role === 'owner' || conv.role === 'admin')) {
    const muted = member.muted_until > Date.now();
    items.push(
      muted
        ? { label: 'Unmute', onSelect: () => void run('unmute', store.client.muteMember(conv.id, user, 0)) }
        : { label: 'Mute for 1 hour', onSelect: () => void run('mute', store.client.muteMember(conv.id, user, Date.now() + HOUR)), testid: 'mute-member' },
      { label: 'Mute for 1 day', onSelect: () => void run('mute', store.client.muteMember(conv.id, user, Date.now() + 24 * HOUR)) },
    );
  }
  if (conv.role === 'owner') items.push({ label: 'Make owner', onSelect: onTransfer, testid: 'make-owner' });
  if (above) {
    const remove = () => void run('remove the member', store.client.removeMember(conv.id, user));
    items.push({ label: 'Remove from group', danger: true, onSelect: remove, testid: 'remove-member' });
  }
  return items;
}

function AddMember(props: { store: ChatStore; conv: Conversation }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const add = async (e: Event) => {
    e.preventDefault();
    const username = name.trim().replace(/^@/, '');
    if (!username) return;
    setBusy(true);
    setError(null);
    try {
      await props.store.client.addMember(props.conv.id, username);
      setName('');
      void props.store.loadMembers(props.conv.id);
    } catch (err) {
      setError(err instanceof PipitError && err.code === 'not_found' ? `No user named “${username}”.` : errorText(err));
    }
    setBusy(false);
  };
  return (
    <form class="add-member" onSubmit={add}>
      <input
        class="input"
        placeholder="Add by username"
        aria-label="Username to add"
        autocapitalize="none"
        spellcheck={false}
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
        data-testid="add-member-input"
      />
      <button class="btn" type="submit" disabled={busy || !name.trim()}>
        Add
      </button>
      {error ? (
        <p class="error-text add-member-error" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}

function Confirm(props: { title: string; text: string; action: string; onClose: () => void; onConfirm: () => Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = async () => {
    setBusy(true);
    try {
      await props.onConfirm();
      props.onClose();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <p class="muted">{props.text}</p>
      <ErrorText error={error} />
      <div class="modal-actions">
        <button class="btn" onClick={props.onClose}>
          Cancel
        </button>
        <button class="btn btn-danger" disabled={busy} onClick={() => void confirm()} data-testid="confirm">
          {props.action}
        </button>
      </div>
    </Modal>
  );
}
