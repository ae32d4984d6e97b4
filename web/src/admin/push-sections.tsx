/*
 * The composer's sections: audience (users, topic, tags or everyone), content
 * (title, body, link, image, category, data) and delivery (schedule, TTL,
 * collapse key, priority).
 */
import { count, duration, plural } from './format';
import { Icon } from './icons';
import {
  MAX_TAGS,
  byteLength,
  dateTimeLocal,
  latestSchedule,
  localInputToRfc3339,
  newKey,
  parseData,
  parseUsers,
  ttlSeconds,
  type Draft,
} from './push-draft';
import { Field, Section, Segmented, type Part } from './push-form';

export function Audience({ d, set, err }: Part) {
  const users = parseUsers(d.users);
  return (
    <Section title="Audience" sub="Who gets it. The list is fixed when the push is sent.">
      <Segmented
        legend="Send to"
        name="target"
        value={d.target}
        onChange={(target) => set({ target })}
        options={[
          { value: 'users', label: 'Users' },
          { value: 'topic', label: 'Topic' },
          { value: 'tags', label: 'Tags' },
          { value: 'all', label: 'Everyone' },
        ]}
      />
      {d.target === 'users' ? (
        <Field
          label="Users"
          error={err('users')}
          hint={users.length > 0 ? `${count(users.length)} listed. Unknown ones are skipped.` : 'User ids or usernames, separated by commas or spaces.'}
        >
          <textarea
            class="input"
            rows={2}
            placeholder="42, alice, bob"
            value={d.users}
            onInput={(e) => set({ users: e.currentTarget.value })}
            data-testid="push-users"
          />
        </Field>
      ) : d.target === 'topic' ? (
        <Field label="Topic" error={err('topic')} hint="Users who subscribed to it in their app.">
          <input class="input" placeholder="news" value={d.topic} onInput={(e) => set({ topic: e.currentTarget.value })} />
        </Field>
      ) : d.target === 'tags' ? (
        <TagRows d={d} set={set} err={err} />
      ) : (
        <p class="notice">Every user of this server gets it. Think twice.</p>
      )}
    </Section>
  );
}

function TagRows({ d, set, err }: Part) {
  const update = (key: number, patch: Partial<{ name: string; value: string }>) =>
    set({ tags: d.tags.map((t) => (t.key === key ? { ...t, ...patch } : t)) });
  return (
    <fieldset class="field">
      <legend class="field-label">Tags (a user needs all of them)</legend>
      {d.tags.map((t, i) => (
        <div key={t.key} class="pair-row">
          <input
            class="input"
            aria-label={`Tag ${i + 1} name`}
            placeholder="plan"
            value={t.name}
            onInput={(e) => update(t.key, { name: e.currentTarget.value })}
          />
          <span class="pair-eq" aria-hidden="true">
            =
          </span>
          <input
            class="input"
            aria-label={`Tag ${i + 1} value`}
            placeholder="gold"
            value={t.value}
            onInput={(e) => update(t.key, { value: e.currentTarget.value })}
          />
          <button
            type="button"
            class="btn btn-ghost btn-icon"
            aria-label={`Remove tag ${i + 1}`}
            disabled={d.tags.length === 1}
            onClick={() => set({ tags: d.tags.filter((x) => x.key !== t.key) })}
          >
            <Icon name="close" size={16} />
          </button>
        </div>
      ))}
      {err('tags') ? <small class="error-text">{err('tags')}</small> : null}
      {d.tags.length < MAX_TAGS ? (
        <button
          type="button"
          class="btn btn-sm btn-ghost add-btn"
          onClick={() => set({ tags: [...d.tags, { key: newKey(), name: '', value: '' }] })}
        >
          <Icon name="plus" size={14} /> Add tag
        </button>
      ) : null}
    </fieldset>
  );
}

export function Content({ d, set, err, categories }: Part & { categories: string[] }) {
  const data = parseData(d.data);
  return (
    <Section title="Content" sub="What the notification says.">
      <Field label="Title" error={err('title')} extra={`${byteLength(d.title)}/256`}>
        <input
          class="input"
          required
          value={d.title}
          placeholder="Your order has shipped"
          onInput={(e) => set({ title: e.currentTarget.value })}
          data-testid="push-title"
        />
      </Field>
      <Field label="Body" error={err('body')}>
        <textarea
          class="input"
          rows={3}
          value={d.body}
          placeholder="Order 5521 is on its way"
          onInput={(e) => set({ body: e.currentTarget.value })}
          data-testid="push-body"
        />
      </Field>
      <div class="grid-2">
        <Field label="Link (URL)" error={err('url')} hint="Opened when the notification is tapped.">
          <input class="input" type="url" inputMode="url" placeholder="https://…" value={d.url} onInput={(e) => set({ url: e.currentTarget.value })} />
        </Field>
        <Field label="Image (URL)" error={err('image')}>
          <input class="input" type="url" inputMode="url" placeholder="https://…/image.png" value={d.image} onInput={(e) => set({ image: e.currentTarget.value })} />
        </Field>
      </div>
      <Field label="Category" error={err('category')} hint="Users can turn categories off; urgent ones pass quiet hours when high priority.">
        <input
          class="input"
          list="push-categories"
          placeholder="orders"
          value={d.category}
          onInput={(e) => set({ category: e.currentTarget.value })}
        />
        <datalist id="push-categories">
          {categories.map((c) => (
            <option key={c} value={c} />
          ))}
        </datalist>
      </Field>
      <Field
        label="Data (JSON)"
        error={err('data')}
        hint={data.value ? `Valid JSON: ${plural(Object.keys(data.value).length, 'key')}, passed to the app as is.` : 'Optional. An object for the app, e.g. {"order": 5521}.'}
      >
        <textarea
          class={`input mono${err('data') ? ' input-bad' : ''}`}
          rows={3}
          spellcheck={false}
          placeholder='{"order": 5521}'
          value={d.data}
          onInput={(e) => set({ data: e.currentTarget.value })}
          aria-invalid={err('data') ? true : undefined}
        />
      </Field>
    </Section>
  );
}

export function Delivery({ d, set, err }: Part) {
  const now = Date.now();
  const at = d.schedule === 'at' && d.at ? localInputToRfc3339(d.at) : null;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const ttl = ttlSeconds(d);
  return (
    <Section title="Delivery" sub="When it goes out and how long it may wait.">
      <Segmented
        legend="Send"
        name="schedule"
        value={d.schedule}
        onChange={(schedule) => set({ schedule })}
        options={[
          { value: 'now', label: 'Now' },
          { value: 'at', label: 'At a time' },
          { value: 'local', label: "User's local time" },
        ]}
      />
      {d.schedule === 'at' ? (
        <Field label="Send at" error={err('at')} hint={at ? `Your time zone (${zone}); ${at.replace('T', ' ').replace('Z', ' UTC')}.` : `In your time zone, ${zone}.`}>
          <input
            class="input"
            type="datetime-local"
            min={dateTimeLocal(now)}
            max={latestSchedule(now)}
            value={d.at}
            onInput={(e) => set({ at: e.currentTarget.value })}
          />
        </Field>
      ) : d.schedule === 'local' ? (
        <Field label="Send at, on each user's clock" error={err('local')} hint="Each user gets it when their own clock reads this time (their time zone setting, else UTC).">
          <input class="input" type="datetime-local" min={dateTimeLocal(now)} value={d.local} onInput={(e) => set({ local: e.currentTarget.value })} />
        </Field>
      ) : null}
      <div class="grid-2">
        <Field label="Time to live" error={err('ttl')} hint={Number.isFinite(ttl) && !err('ttl') ? (ttl === 0 ? 'One attempt, no retries.' : `Given up after ${duration(ttl)}.`) : undefined}>
          <div class="input-row">
            <input class="input" type="number" min={0} inputMode="numeric" value={d.ttl} onInput={(e) => set({ ttl: e.currentTarget.value })} aria-label="Time to live" />
            <select class="input unit" value={d.ttlUnit} onChange={(e) => set({ ttlUnit: e.currentTarget.value as Draft['ttlUnit'] })} aria-label="Unit">
              <option value="seconds">seconds</option>
              <option value="minutes">minutes</option>
              <option value="hours">hours</option>
              <option value="days">days</option>
            </select>
          </div>
        </Field>
        <Field label="Collapse key" error={err('collapseKey')} hint="A newer push with the same key replaces an older one.">
          <input class="input" placeholder="order-5521" value={d.collapseKey} onInput={(e) => set({ collapseKey: e.currentTarget.value })} />
        </Field>
      </div>
      <Segmented
        legend="Priority"
        name="priority"
        value={d.priority}
        onChange={(priority) => set({ priority })}
        options={[
          { value: 'normal', label: 'Normal' },
          { value: 'high', label: 'High' },
        ]}
      />
    </Section>
  );
}
