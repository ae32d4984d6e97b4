/*
 * The console's gate: who is signed in decides the page. The session is the chat
 * app's (one token in localStorage), so signing in or out on either page does it
 * for both; a sign-out in another tab is noticed through the storage event.
 */
import { useEffect, useState } from 'preact/hooks';
import { loadSession, newClient, saveSession, type Session } from '../shared/session';
import { Toasts } from '../shared/ui';
import { errorText, onSessionLost, setClient } from './api';
import { Shell } from './shell';
import { NotAdmin, SignIn } from './signin';
import { Loading } from './widgets';

type Gate =
  | { page: 'checking' }
  | { page: 'signed-out'; notice?: string }
  | { page: 'not-admin'; session: Session }
  | { page: 'ready'; session: Session }
  | { page: 'offline'; error: string };

export function App() {
  const [gate, setGate] = useState<Gate>({ page: 'checking' });

  const check = async () => {
    const saved = loadSession();
    if (saved === null) {
      setGate({ page: 'signed-out' });
      return;
    }
    const client = newClient(saved.token);
    setClient(client);
    try {
      const me = await client.me();
      const session = { ...saved, username: me.username, role: me.role };
      saveSession(session);
      setGate(me.role === 'admin' ? { page: 'ready', session } : { page: 'not-admin', session });
    } catch (err) {
      if ((err as { status?: number }).status === 401) {
        saveSession(null);
        setGate({ page: 'signed-out', notice: 'Your session has ended. Sign in again.' });
      } else {
        setGate({ page: 'offline', error: errorText(err) });
      }
    }
  };

  useEffect(() => {
    void check();
    onSessionLost(() => {
      saveSession(null);
      setClient(null);
      setGate({ page: 'signed-out', notice: 'Your session has ended. Sign in again.' });
    });
    const onStorage = (e: StorageEvent) => {
      if (e.key === 'pipit.session' || e.key === null) void check();
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);

  const signedIn = (session: Session) => {
    setGate(session.role === 'admin' ? { page: 'ready', session } : { page: 'not-admin', session });
  };

  const signOut = async () => {
    const saved = loadSession();
    if (saved) {
      // Best effort: the token is dropped here whatever the server says.
      await newClient(saved.token).logout().catch(() => {});
    }
    saveSession(null);
    setClient(null);
    setGate({ page: 'signed-out' });
  };

  return (
    <>
      {gate.page === 'checking' ? (
        <div class="auth-page">
          <Loading />
        </div>
      ) : gate.page === 'signed-out' ? (
        <SignIn notice={gate.notice} onSignedIn={signedIn} />
      ) : gate.page === 'not-admin' ? (
        <NotAdmin session={gate.session} onSignOut={signOut} />
      ) : gate.page === 'offline' ? (
        <div class="auth-page">
          <div class="card auth-card">
            <h1>Cannot reach the server</h1>
            <p class="muted">{gate.error}</p>
            <button type="button" class="btn btn-primary" onClick={() => void check()}>
              Try again
            </button>
          </div>
        </div>
      ) : (
        <Shell session={gate.session} onSignOut={signOut} />
      )}
      <Toasts />
    </>
  );
}
