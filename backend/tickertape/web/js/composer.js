// The message box: Send / Stop, the character count, and what Enter does. On a desktop
// Enter sends and Shift+Enter is a newline; on a phone (narrow screen or touch) Enter is a
// newline, as on every phone keyboard, and the Send button sends. The placeholder says
// which, so it never promises something the page does not do.

const PHONE_QUERY = '(max-width: 760px), (pointer: coarse)';
const DESKTOP_PLACEHOLDER = 'Message — Enter to send, Shift+Enter for a new line';
const PHONE_PLACEHOLDER = 'Message';

export class Composer {
  // onSend(content) -> boolean (true: the text was taken, clear the box);
  // onStop(); isBusy() -> one reply is in flight in the open conversation;
  // limits() -> hello.limits or null; onQueueChange(position|null) for the status line.
  constructor({ form, input, send, stop, charCount, onSend, onStop, isBusy, limits }) {
    Object.assign(this, { form, input, sendButton: send, stopButton: stop, charCount, onSend, onStop, isBusy, limits });
    this.phone = window.matchMedia(PHONE_QUERY);
    this.#applyPlaceholder();
    this.phone.addEventListener('change', () => this.#applyPlaceholder());

    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    input.addEventListener('keydown', (e) => {
      // Never send mid-IME-composition; modified Enter is left to the browser (newline).
      if (e.key !== 'Enter' || e.shiftKey || e.isComposing || e.altKey || e.ctrlKey || e.metaKey) return;
      if (this.phone.matches) return; // a newline, as on any phone keyboard
      e.preventDefault();
      this.submit();
    });
    input.addEventListener('input', () => this.update());
    stop.addEventListener('click', () => {
      this.onStop();
      stop.disabled = true;
    });
  }

  get value() {
    return this.input.value;
  }

  // Put text in the box (an example prompt, a discarded message) without losing a draft.
  fill(text, { replace = false } = {}) {
    if (replace || !this.input.value) this.input.value = text;
    this.update();
    this.input.focus();
  }

  focus() {
    this.input.focus();
  }

  submit() {
    const content = this.input.value;
    if (!content.trim() || this.isBusy()) return;
    if (this.onSend(content)) {
      this.input.value = '';
      this.update();
    }
  }

  update() {
    const busy = this.isBusy();
    // One reply in flight per conversation (the server answers `conflict` otherwise).
    this.sendButton.disabled = busy;
    this.stopButton.hidden = !busy;
    if (!busy) this.stopButton.disabled = false;
    const max = this.limits()?.max_content_chars;
    const length = this.input.value.length;
    this.charCount.textContent = max && length > max * 0.8 ? `${length} / ${max}` : '';
    this.charCount.classList.toggle('over', Boolean(max && length > max));
  }

  #applyPlaceholder() {
    this.input.placeholder = this.phone.matches ? PHONE_PLACEHOLDER : DESKTOP_PLACEHOLDER;
    this.input.enterKeyHint = this.phone.matches ? 'enter' : 'send';
  }
}
