/*
 * Setting a user's password in the console (a new user, a reset): a field with
 * a "Generate" button, and the passwords it suggests.
 */

/** 16 characters from a 56-letter alphabet without look-alikes (about 93 bits); rejection sampling keeps it uniform. */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const limit = 256 - (256 % alphabet.length);
  const out: string[] = [];
  for (let round = 0; round < 8 && out.length < 16; round++) {
    for (const b of crypto.getRandomValues(new Uint8Array(32))) {
      if (b < limit && out.length < 16) out.push(alphabet[b % alphabet.length]!);
    }
  }
  return out.join('');
}

/** Shown as text, not dots: the admin has to pass it on, so they must be able to read it. */
export function PasswordField(props: { label: string; hint: string; value: string; onInput: (v: string) => void }) {
  return (
    <label class="field">
      <span>{props.label}</span>
      <div class="input-row">
        <input
          class="input mono"
          name="password"
          type="text"
          required
          minLength={8}
          autocomplete="new-password"
          value={props.value}
          onInput={(e) => props.onInput(e.currentTarget.value)}
        />
        <button type="button" class="btn" onClick={() => props.onInput(generatePassword())}>
          Generate
        </button>
      </div>
      <small class="faint">{props.hint}</small>
    </label>
  );
}
