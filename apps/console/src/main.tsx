import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, forgetKey, getJson, storedKey, storeKey } from './api';
import { DetailView } from './detail';
import { ListView } from './list';
import { OperationsView } from './operations';
import './style.css';

interface Session {
  api_key: string;
  admin: boolean;
}

/** The route, from the hash: `#/`, `#/responses/<id>`, `#/operations` (query after `?`). */
function useRoute(): { path: string; query: URLSearchParams } {
  const read = (): { path: string; query: URLSearchParams } => {
    const hash = location.hash.replace(/^#/, '') || '/';
    const question = hash.indexOf('?');
    return question < 0
      ? { path: hash, query: new URLSearchParams() }
      : { path: hash.slice(0, question), query: new URLSearchParams(hash.slice(question + 1)) };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = (): void => setRoute(read());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function KeyForm({ error, onKey }: { error: string | null; onKey: (key: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <main class="signin">
      <form
        class="card signin-card"
        onSubmit={(event) => {
          event.preventDefault();
          if (value.trim()) onKey(value.trim());
        }}
      >
        <div class="brand brand-large">
          <span class="logo" aria-hidden="true" />
          ratchet <span class="muted">console</span>
        </div>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          placeholder="rk-… or the admin key"
          value={value}
          onInput={(event) => setValue(event.currentTarget.value)}
        />
        {error && <p class="form-error">{error}</p>}
        <button class="primary" type="submit">
          Open console
        </button>
        <p class="hint">
          The key stays in this tab (session storage) and is sent as a bearer token. A tenant key
          shows its own responses; the admin key shows everyone's and the operations view.
        </p>
      </form>
    </main>
  );
}

function App() {
  const [key, setKey] = useState<string | null>(storedKey);
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  const route = useRoute();

  useEffect(() => {
    if (!key) return;
    let current = true;
    getJson<Session>(key, '/v1/console/session')
      .then((answer) => {
        if (current) setSession(answer);
      })
      .catch((failure: unknown) => {
        if (!current) return;
        forgetKey();
        setKey(null);
        setError(failure instanceof ApiError ? failure.message : String(failure));
      });
    return () => {
      current = false;
    };
  }, [key]);

  if (!key) {
    return (
      <KeyForm
        error={error}
        onKey={(entered) => {
          storeKey(entered);
          setError(null);
          setKey(entered);
        }}
      />
    );
  }
  if (!session) return <div class="loading">Checking the key…</div>;

  const detail = /^\/responses\/([\w-]+)$/.exec(route.path);
  const page = detail ? 'responses' : route.path === '/operations' ? 'operations' : 'responses';
  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="#/">
          <span class="logo" aria-hidden="true" />
          ratchet <span class="muted">console</span>
        </a>
        <nav>
          <a href="#/" class={page === 'responses' ? 'active' : ''}>
            Responses
          </a>
          {session.admin && (
            <a href="#/operations" class={page === 'operations' ? 'active' : ''}>
              Operations
            </a>
          )}
        </nav>
        <div class="who">
          <span class={`role ${session.admin ? 'role-admin' : ''}`}>
            {session.admin ? 'admin' : 'tenant'}
          </span>
          <code data-testid="session-key">{session.api_key}</code>
          <button
            class="ghost"
            onClick={() => {
              forgetKey();
              setSession(null);
              setKey(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      {detail ? (
        <DetailView key={detail[1]} apiKey={key} id={detail[1]} />
      ) : route.path === '/operations' && session.admin ? (
        <OperationsView apiKey={key} />
      ) : (
        <ListView apiKey={key} admin={session.admin} query={route.query} />
      )}
    </div>
  );
}

render(<App />, document.getElementById('app')!);
