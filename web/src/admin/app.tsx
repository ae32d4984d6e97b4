/*
 * The console's gate: who is signed in decides the page. The session is the chat
 * app's (one token in localStorage), so signing in or out on either page does it
 * for both; a sign-out in another tab is noticed through the storage event. A
 * page whose token died clears the stored session only if it is still that
 * token (another tab may hold a newer one after a password change). An admin
 * the app's policy requires to use two-factor authentication, who has none yet,
 * sets it up before the console opens.
 */
import type { Client } from '@pipit/sdk';
import { useEffect, useState } from 'preact/hooks';
import { clearSession, loadSession, newClient, saveSession, type Session } from '../shared/session';
import { Toasts } from '../shared/ui';
import { errorText, onEnrolmentNeeded, onSessionLost, setClient } from './api';
import { Shell } from './shell';
import { EnrolFirst, NotAdmin, SignIn } from './signin';
import { Loading } from './widgets';

type Gate =
  | { page: 'checking' }
  | { page: 'signed-out'; notice?: string }
  | { page: 'not-admin'; session: Session }
  | { page: 'enrol'; session: Session; client: Client }
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
      if (me.role !== 'admin') setGate({ page: 'not-admin', session });
      else if (me.mfa_required && !me.mfa_enabled) setGate({ page: 'enrol', session, client });
      else setGate({ page: 'ready', session });
    } catch (err) {
      if ((err as { status?: number }).status === 401) {
        clearSession(saved.token);
        setGate({ page: 'signed-out', notice: 'Your session has ended. Sign in again.' });
      } else {
        setGate({ page: 'offline', error: errorText(err) });
      }
    }
  };

  useEffect(() => {
    void check();
    onSessionLost((token) => {
      const saved = loadSession();
      if (saved && saved.token !== token) {
        void check(); // another tab holds a newer session (a password change there)
        return;
      }
      if (token) clearSession(token);
      setClient(null);
      setGate({ page: 'signed-out', notice: 'Your session has ended. Sign in again.' });
    });
    onEnrolmentNeeded(() => void check());
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
      ) : gate.page === 'enrol' ? (
        <EnrolFirst client={gate.client} session={gate.session} onSignOut={signOut} onDone={() => void check()} />
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
