/*
 * The top of the chat app: the sign-in page or the signed-in app, and the
 * switch between them. The session (token and who) lives in localStorage via
 * shared/session.ts, so a reload stays signed in and the admin console shares it.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { loadSession, saveSession, type Session } from '../shared/session';
import { Toasts } from '../shared/ui';
import { AuthPage } from './auth-page';
import { StoreContext } from './hooks';
import { forgetPushToken } from './push';
import { Shell } from './shell';
import { ChatStore } from './store';

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [notice, setNotice] = useState<string | null>(null);

  // Signing in or out in another tab applies here too.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key === 'pipit.session' || e.key === null) setSession(loadSession());
    };
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);

  const signedOut = (reason: string | null) => {
    saveSession(null);
    void forgetPushToken();
    setNotice(reason);
    setSession(null);
    if (location.hash) history.replaceState(null, '', location.pathname);
  };

  return (
    <>
      {session ? (
        <ChatApp key={session.token} session={session} onSignedOut={signedOut} />
      ) : (
        <AuthPage
          notice={notice}
          onSignedIn={(s) => {
            saveSession(s);
            setNotice(null);
            setSession(s);
          }}
        />
      )}
      <Toasts />
    </>
  );
}

function ChatApp(props: { session: Session; onSignedOut: (reason: string | null) => void }) {
  const store = useMemo(() => new ChatStore(props.session), [props.session]);
  const [ended, setEnded] = useState<string | null>(null);

  useEffect(() => {
    const off = store.subscribe(() => setEnded(store.ended));
    void store.start();
    return () => {
      off();
      store.stop();
    };
  }, [store]);

  useEffect(() => {
    if (ended) props.onSignedOut(ended);
  }, [ended]);

  return (
    <StoreContext.Provider value={store}>
      <Shell onSignOut={() => props.onSignedOut(null)} />
    </StoreContext.Provider>
  );
}
