/*
 * Attaching files: the paperclip button (a hidden file input behind it) and the
 * list of files on their way up, above the message box. Each shows a preview
 * (the picture itself, from the local file) or a file icon, its progress, and
 * a button to cancel; a failed one says why in words (a too-large file in the
 * server's own words) and offers to try again. The uploads live in the store,
 * so they keep going while another chat is open.
 */
import { useRef } from 'preact/hooks';
import { bytes } from '../shared/ui';
import { IconAlert, IconAttach, IconClose, IconFile } from './icons';
import type { ChatStore, Upload } from './store';

export function AttachButton(props: { onFiles: (files: File[]) => void }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <button
        type="button"
        class="btn btn-ghost btn-icon composer-attach"
        aria-label="Attach files"
        title="Attach files"
        onClick={() => input.current?.click()}
        data-testid="attach"
      >
        <IconAttach />
      </button>
      <input
        ref={input}
        type="file"
        multiple
        hidden
        tabIndex={-1}
        aria-hidden="true"
        data-testid="file-input"
        onChange={(e) => {
          const files = [...(e.currentTarget.files ?? [])];
          e.currentTarget.value = ''; // the same file can be picked again
          if (files.length > 0) props.onFiles(files);
        }}
      />
    </>
  );
}

export function UploadList(props: { store: ChatStore; conv: number }) {
  const uploads = props.store.uploadsIn(props.conv);
  if (uploads.length === 0) return null;
  return (
    <ul class="upload-list" aria-label="Files being sent">
      {uploads.map((u) => (
        <UploadItem key={u.key} store={props.store} upload={u} />
      ))}
    </ul>
  );
}

function UploadItem(props: { store: ChatStore; upload: Upload }) {
  const { store, upload: u } = props;
  const failed = u.state === 'failed';
  const percent = u.size > 0 ? Math.min(100, Math.round((u.loaded / u.size) * 100)) : 0;
  return (
    <li class={`upload${failed ? ' is-failed' : ''}`} data-testid="upload" data-state={u.state}>
      <span class="upload-thumb" aria-hidden="true">
        {u.preview ? <img src={u.preview} alt="" /> : <IconFile size={20} />}
      </span>
      <span class="upload-body">
        <span class="upload-line">
          <span class="upload-name" title={u.name}>
            {u.name}
          </span>
          <span class="upload-size">{failed ? bytes(u.size) : `${bytes(u.loaded)} of ${bytes(u.size)}`}</span>
        </span>
        {failed ? (
          <span class="upload-error" role="alert" data-testid="upload-error">
            <IconAlert /> {u.error}
          </span>
        ) : (
          <span
            class="upload-bar"
            role="progressbar"
            aria-label={`Sending ${u.name}`}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={percent}
            data-testid="upload-progress"
          >
            <span class="upload-bar-fill" style={{ width: `${percent}%` }} />
          </span>
        )}
      </span>
      {failed && u.retryable ? (
        <button type="button" class="btn btn-sm" onClick={() => store.retryUpload(u.key)}>
          Try again
        </button>
      ) : null}
      <button
        type="button"
        class="btn btn-ghost btn-icon btn-sm upload-cancel"
        aria-label={failed ? `Dismiss ${u.name}` : `Cancel sending ${u.name}`}
        title={failed ? 'Dismiss' : 'Cancel'}
        onClick={() => store.cancelUpload(u.key)}
        data-testid="upload-cancel"
      >
        <IconClose size={16} />
      </button>
    </li>
  );
}
