/*
 * Showing and saving files that need the session token: an <img src> or an
 * <a href> cannot send an Authorization header, so the bytes come through the
 * SDK (fetch with the token) and the page gets a blob: URL. fileObjectUrl shares
 * one URL per file among every view of it, and a view gives it back when it
 * goes (useObjectUrl), so a long chat does not hold every picture it showed.
 */
import { downloadFile, fileObjectUrl, type FileMessageBody } from '@pipit/sdk';
import { useContext, useEffect, useState } from 'preact/hooks';
import { errorText } from './format';
import { StoreContext } from './hooks';
import { IconDownload } from './icons';

/** The SDK client, without subscribing to store changes (rows are memoised). */
export function useClient() {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useClient outside <StoreContext.Provider>');
  return store.client;
}

export interface ObjectUrlState {
  url: string | null;
  error: string | null;
  retry: () => void;
}

/** A blob: URL for a file or its thumbnail, released when the caller unmounts. */
export function useObjectUrl(file: number, thumbnail: boolean): ObjectUrlState {
  const client = useClient();
  const [attempt, setAttempt] = useState(0);
  const [state, setState] = useState<{ url: string | null; error: string | null }>({ url: null, error: null });
  useEffect(() => {
    let live = true;
    setState({ url: null, error: null });
    const handle = fileObjectUrl(client, file, { thumbnail });
    handle.url.then(
      (url) => live && setState({ url, error: null }),
      (err: unknown) => live && setState({ url: null, error: errorText(err) }),
    );
    return () => {
      live = false;
      handle.release();
    };
  }, [client, file, thumbnail, attempt]);
  return { ...state, retry: () => setAttempt((n) => n + 1) };
}

export function fileName(body: FileMessageBody): string {
  return typeof body.name === 'string' && body.name ? body.name : 'file';
}

/** Saves a file; shows that it is working, and why it failed, in place. */
export function DownloadButton(props: { file: number; name: string; class?: string; label?: string }) {
  const client = useClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      await downloadFile(client, props.file, props.name);
    } catch (err) {
      setError(errorText(err));
    }
    setBusy(false);
  };
  return (
    <>
      <button
        type="button"
        class={props.class ?? 'file-download'}
        onClick={() => void save()}
        disabled={busy}
        aria-label={`Download ${props.name}`}
        title="Download"
        data-testid="download"
      >
        {busy ? <span class="spinner spinner-sm" aria-hidden="true" /> : <IconDownload />}
        {props.label ? <span>{props.label}</span> : null}
      </button>
      {error ? (
        <span class="file-error" role="alert">
          Could not download: {error}
        </span>
      ) : null}
    </>
  );
}
