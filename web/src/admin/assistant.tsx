/*
 * The AI assistant (GET/PUT/DELETE /v1/admin/assistant): a bot of the app that
 * answers a direct message, or a mention in a group, with the app's own
 * OpenAI-compatible endpoint (an on-premises model server), streaming its
 * reply. One form sets it up or changes it; the endpoint's API key is never
 * shown back (has_api_key only): left empty it is kept, and a box removes it.
 * Remove asks first. The first save also makes the bot, named by the username
 * given then (the server's default is "assistant").
 */
import { useState } from 'preact/hooks';
import { ErrorText, toast } from '../shared/ui';
import { deleteAssistant, errorText, getAssistant, putAssistant, type Assistant, type AssistantPut } from './api';
import { Confirm } from './dialogs';
import { dateTime } from './format';
import { useAsync } from './hooks';
import { Icon } from './icons';
import { ErrorBox, Loading, PageHeader, Status } from './widgets';

/** The server's defaults for a new assistant (api/bots.c, assistant_put). */
const DEFAULTS = { context_messages: 20, user_per_minute: 10, app_per_minute: 120, timeout_ms: 60000 };

export function AssistantPage() {
  const load = useAsync(getAssistant, []);
  // After a save or a removal this page knows better than the first load.
  const [changed, setChanged] = useState<Assistant | null | undefined>(undefined);
  const [removing, setRemoving] = useState(false);
  const a = changed !== undefined ? changed : load.data;
  const ready = changed !== undefined || (!load.loading && load.error === null);

  return (
    <div class="page">
      <PageHeader
        title="AI assistant"
        sub="A bot that answers with your own model server: people write to it directly, or mention it in a group."
      >
        {ready && a ? (
          <button type="button" class="btn btn-danger" onClick={() => setRemoving(true)}>
            <Icon name="trash" size={16} /> Remove
          </button>
        ) : null}
      </PageHeader>
      {!ready ? (
        load.error ? (
          <ErrorBox message={load.error} onRetry={load.reload} />
        ) : (
          <Loading />
        )
      ) : (
        <>
          {a ? <Facts assistant={a} /> : null}
          <AssistantForm key={a ? a.updated_at : 'new'} assistant={a ?? null} onSaved={setChanged} />
        </>
      )}
      {removing && a ? (
        <Confirm
          title="Remove the assistant?"
          confirm="Remove assistant"
          danger
          onClose={() => setRemoving(false)}
          onConfirm={async () => {
            await deleteAssistant();
            setChanged(null);
            toast('Assistant removed', 'It no longer answers.');
          }}
        >
          It stops answering at once, and its settings go, the endpoint's API key included. Its bot account
          {a.bot ? <span class="mono"> @{a.bot.username}</span> : null} and its messages stay: an assistant set up
          again is a new bot, which needs another username.
        </Confirm>
      ) : null}
    </div>
  );
}

function Facts(props: { assistant: Assistant }) {
  const a = props.assistant;
  return (
    <section class="card panel" data-testid="assistant-facts">
      <dl class="kv">
        <dt>Status</dt>
        <dd>{a.enabled ? <Status tone="ok">Answering</Status> : <Status tone="muted">Off</Status>}</dd>
        <dt>Speaks as</dt>
        <dd>{a.bot ? <span class="mono">@{a.bot.username}</span> : <span class="faint">Unknown</span>}</dd>
        <dt>API key</dt>
        <dd data-testid="assistant-has-key">{a.has_api_key ? 'Set (never shown again)' : <span class="faint">None</span>}</dd>
        <dt>Changed</dt>
        <dd>{dateTime(a.updated_at)}</dd>
      </dl>
    </section>
  );
}

/** A whole number field of a range, as the server checks it. */
function NumberField(props: { label: string; name: string; min: number; max: number; value: string; hint: string; onInput: (v: string) => void }) {
  return (
    <label class="field">
      <span>{props.label}</span>
      <input
        class="input"
        type="number"
        name={props.name}
        required
        min={props.min}
        max={props.max}
        step={1}
        inputMode="numeric"
        value={props.value}
        onInput={(e) => props.onInput(e.currentTarget.value)}
      />
      <small class="faint">{props.hint}</small>
    </label>
  );
}

function AssistantForm(props: { assistant: Assistant | null; onSaved: (a: Assistant) => void }) {
  const old = props.assistant;
  const [baseUrl, setBaseUrl] = useState(old?.base_url ?? '');
  const [model, setModel] = useState(old?.model ?? '');
  const [apiKey, setApiKey] = useState('');
  const [removeKey, setRemoveKey] = useState(false);
  const [prompt, setPrompt] = useState(old?.system_prompt ?? '');
  const [context, setContext] = useState(String(old?.context_messages ?? DEFAULTS.context_messages));
  const [perUser, setPerUser] = useState(String(old?.user_per_minute ?? DEFAULTS.user_per_minute));
  const [perApp, setPerApp] = useState(String(old?.app_per_minute ?? DEFAULTS.app_per_minute));
  const [timeout, setTimeoutMs] = useState(String(old?.timeout_ms ?? DEFAULTS.timeout_ms));
  const [enabled, setEnabled] = useState(old?.enabled ?? true);
  const [username, setUsername] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const save = async (e: Event) => {
    e.preventDefault();
    const body: AssistantPut = {
      base_url: baseUrl.trim(),
      model: model.trim(),
      system_prompt: prompt.trim() === '' ? null : prompt,
      context_messages: Number(context),
      user_per_minute: Number(perUser),
      app_per_minute: Number(perApp),
      timeout_ms: Number(timeout),
      enabled,
    };
    if (old?.has_api_key && removeKey) body.api_key = null;
    else if (apiKey !== '') body.api_key = apiKey;
    if (!old && username.trim() !== '') body.username = username.trim();
    setBusy(true);
    setError(null);
    try {
      const saved = await putAssistant(body);
      toast(old ? 'Assistant saved' : 'Assistant set up', saved.enabled ? `It answers as @${saved.bot?.username ?? 'assistant'}.` : 'It is off: it answers nobody until enabled.');
      props.onSaved(saved); // the form starts again from what was saved
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <form class="card panel form-section assistant-form" onSubmit={save} data-testid="assistant-form">
      <div class="section-head">
        <div>
          <h2>Model endpoint</h2>
          <p class="muted">Any server that speaks the OpenAI chat completions API: vLLM, Ollama, llama.cpp, a gateway of yours.</p>
        </div>
      </div>
      <p class="notice" data-testid="assistant-privacy">
        Messages go only to the endpoint set here: the conversation's recent messages are sent to this URL and to nothing
        else.
      </p>
      <label class="field">
        <span>Endpoint URL</span>
        <input
          class="input mono"
          type="url"
          name="base_url"
          required
          maxLength={2048}
          placeholder="https://llm.internal/v1"
          value={baseUrl}
          onInput={(e) => setBaseUrl(e.currentTarget.value)}
        />
        <small class="faint">
          The API's base: pipit POSTs to <span class="mono">{(baseUrl.trim() || 'https://llm.internal/v1').replace(/\/+$/, '')}/chat/completions</span>.{' '}
          <span class="mono">https://</span>, on a public address unless the server allows otherwise.
        </small>
      </label>
      <div class="grid-2">
        <label class="field">
          <span>Model</span>
          <input
            class="input mono"
            name="model"
            required
            maxLength={200}
            placeholder="e.g. llama-3.1-8b-instruct"
            value={model}
            onInput={(e) => setModel(e.currentTarget.value)}
          />
        </label>
        <div class="field">
          <label class="field-label" for="assistant-api-key">
            API key (optional)
          </label>
          <input
            id="assistant-api-key"
            class="input mono"
            type="password"
            name="api_key"
            maxLength={512}
            autocomplete="new-password"
            placeholder={old?.has_api_key ? 'Leave empty to keep the current key' : 'None'}
            disabled={removeKey}
            value={apiKey}
            onInput={(e) => setApiKey(e.currentTarget.value)}
          />
          {old?.has_api_key ? (
            <label class="inline-check">
              <input
                type="checkbox"
                checked={removeKey}
                onChange={(e) => {
                  setRemoveKey(e.currentTarget.checked);
                  setApiKey('');
                }}
                data-testid="remove-api-key"
              />
              <span>Remove the key (the endpoint needs none)</span>
            </label>
          ) : (
            <small class="faint">
              Sent as <span class="mono">Authorization: Bearer …</span>; kept sealed, never shown again.
            </small>
          )}
        </div>
      </div>
      <label class="field">
        <span>System prompt (optional)</span>
        <textarea
          class="input"
          name="system_prompt"
          rows={4}
          maxLength={16384}
          placeholder="e.g. You are the help desk of Example Ltd. Answer briefly, in the user's language."
          value={prompt}
          onInput={(e) => setPrompt(e.currentTarget.value)}
        />
      </label>
      <div class="grid-2">
        <NumberField
          label="Context (messages)"
          name="context_messages"
          min={1}
          max={100}
          value={context}
          onInput={setContext}
          hint="How many of the conversation's recent messages go with a question: 1 to 100."
        />
        <NumberField
          label="Timeout (ms)"
          name="timeout_ms"
          min={1000}
          max={300000}
          value={timeout}
          onInput={setTimeoutMs}
          hint="A reply still unfinished then ends with a note: 1000 to 300000."
        />
        <NumberField
          label="Questions per user per minute"
          name="user_per_minute"
          min={1}
          max={1000}
          value={perUser}
          onInput={setPerUser}
          hint="1 to 1000; beyond it, the assistant replies that it is busy."
        />
        <NumberField
          label="Questions per minute, whole app"
          name="app_per_minute"
          min={1}
          max={100000}
          value={perApp}
          onInput={setPerApp}
          hint="1 to 100000: what the model server gets at the busiest."
        />
      </div>
      {old ? null : (
        <label class="field">
          <span>Username (optional)</span>
          <input
            class="input"
            name="username"
            maxLength={64}
            pattern="[A-Za-z0-9._\-]+"
            title="Letters, digits, dot, underscore or dash"
            autocomplete="off"
            placeholder="assistant"
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
          <small class="faint">The bot it speaks as, made now; “assistant” when left empty. It cannot be changed later.</small>
        </label>
      )}
      <label class="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} name="enabled" />
        <span>
          <strong>Enabled</strong>
          <span class="faint"> — off: it answers nobody, and the settings stay</span>
        </span>
      </label>
      <ErrorText error={error} />
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" disabled={busy} data-testid="save-assistant">
          {busy ? 'Saving…' : old ? 'Save' : 'Set up the assistant'}
        </button>
      </div>
    </form>
  );
}
