/*
 * The top of the chat app: the sign-in page or the signed-in app, and the
 * switch between them. The session (token and who) lives in localStorage via
 * shared/session.ts, so a reload stays signed in and the admin console shares it.
 *
 * The signed-in app restarts (a new store) when the session changes: a sign-in,
 * a sign-out, another tab's. A token this page got in place of its own (a
 * password change here) is stored without a restart, and another tab clearing
 * the old one (while the new one is on its way, or late, over it) does not sign
 * this page out: a cleared session signs a page out only once the server refuses
 * that page's token.
 */
import { PipitError } from '@pipit/sdk';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { EnrolCard } from '../shared/signin-steps';
import { clearSession, isRenewing, loadSession, newClient, saveSession, type Session } from '../shared/session';
import { Toasts } from '../shared/ui';
import { AuthPage } from './auth-page';
import { StoreContext } from './hooks';
import { forgetPushToken } from './push';
import { Shell } from './shell';
import { ChatStore } from './store';

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  // The signed-in app's key: bumped when the session is another one, not when its token is renewed.
  const [run, setRun] = useState(0);
  const [notice, setNotice] = useState<string | null>(null);
  const current = useRef(session);
  current.current = session;

  const replace = (s: Session | null) => {
    setSession(s);
    setRun((r) => r + 1);
  };

  // Signing in or out in another tab applies here too.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key !== 'pipit.session' && e.key !== null) return;
      const stored = loadSession();
      const mine = current.current;
      if (stored === null && mine !== null) {
        if (isRenewing()) return; // this page's new token is on its way
        // Tabs see each other's writes late: another tab may have cleared the token
        // this page has just replaced (a password change here), over the new one.
        // Sign out only if the server no longer takes this page's token; if it
        // does, store it again (the other tab then follows with it).
        newClient(mine.token).me().then(
          () => {
            if (current.current === mine && loadSession() === null) saveSession(mine);
          },
          (err: unknown) => {
            if (current.current === mine && err instanceof PipitError && err.status === 401) replace(null);
          },
        );
        return;
      }
      if (stored?.token !== mine?.token) replace(stored);
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);

  const signedOut = (reason: string | null) => {
    if (current.current) {
      clearSession(current.current.token);
      // Another tab changed the password and stored the new token first: carry on with it.
      const stored = loadSession();
      if (reason !== null && stored !== null && stored.userId === current.current.userId) {
        replace(stored);
        return;
      }
    }
    void forgetPushToken();
    setNotice(reason);
    replace(null);
    if (location.hash) history.replaceState(null, '', location.pathname);
  };

  const renewed = (token: string) => {
    if (!current.current) return;
    const s = { ...current.current, token };
    saveSession(s);
    setSession(s);
  };

  return (
    <>
      {session ? (
        <ChatApp key={run} session={session} onSignedOut={signedOut} onToken={renewed} onRestart={() => setRun((r) => r + 1)} />
      ) : (
        <AuthPage
          notice={notice}
          onSignedIn={(s) => {
            saveSession(s);
            setNotice(null);
            replace(s);
          }}
        />
      )}
      <Toasts />
    </>
  );
}

function ChatApp(props: {
  session: Session;
  onSignedOut: (reason: string | null) => void;
  onToken: (token: string) => void;
  onRestart: () => void;
}) {
  // One store per run: a renewed token reaches it through its own client, not a new session prop.
  const store = useMemo(() => new ChatStore(props.session, props.onToken), []);
  const [ended, setEnded] = useState<string | null>(null);
  const [enrol, setEnrol] = useState(false);

  useEffect(() => {
    const off = store.subscribe(() => {
      setEnded(store.ended);
      setEnrol(store.mfaEnrollment);
    });
    void store.start();
    return () => {
      off();
      store.stop();
    };
  }, [store]);

  useEffect(() => {
    if (ended) props.onSignedOut(ended);
  }, [ended]);

  if (enrol) {
    return (
      <div class="auth-page">
        <main class="card auth-card" data-testid="auth-page">
          <div class="brand">
            <img src="/favicon.svg" alt="" />
            <span>pipit</span>
          </div>
          <EnrolCard
            client={store.client}
            username={props.session.username}
            wide="auth-submit"
            onSignOut={() => {
              store.forgetLocal();
              store.client.logout().catch(() => undefined);
              props.onSignedOut(null);
            }}
            onDone={props.onRestart}
          />
        </main>
      </div>
    );
  }

  return (
    <StoreContext.Provider value={store}>
      <Shell onSignOut={() => props.onSignedOut(null)} />
    </StoreContext.Provider>
  );
}
