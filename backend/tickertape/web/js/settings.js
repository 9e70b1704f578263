// Generation settings, kept in localStorage and sent as the `params` of each chat.
// An empty field means "server default" and is not sent at all.

const STORAGE_KEY = 'tickertape.settings';

export function loadSettings() {
  try {
    const value = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}');
    return value && typeof value === 'object' ? value : {};
  } catch {
    return {};
  }
}

function saveSettings(settings) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
  } catch {
    /* private mode: settings last for this page only */
  }
}

function parseNumber(text, { min, max, integer }) {
  if (text.trim() === '') return { value: null };
  const value = Number(text);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    return { error: integer ? 'Enter a whole number.' : 'Enter a number.' };
  }
  if (value < min || value > max) return { error: `Must be between ${min} and ${max}.` };
  return { value };
}

export class SettingsPanel {
  constructor({ panel, toggle, temperatureInput, maxTokensInput, thinkingInput, resetButton, errorOutput }) {
    this.panel = panel;
    this.toggle = toggle;
    this.temperatureInput = temperatureInput;
    this.maxTokensInput = maxTokensInput;
    this.thinkingInput = thinkingInput; // params.enable_thinking: on, off, or the model's default
    this.errorOutput = errorOutput;
    this.maxTokensLimit = 100000;
    this.settings = loadSettings();
    this.#fill();

    toggle.addEventListener('click', () => this.setOpen(panel.hidden));
    panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.setOpen(false);
        toggle.focus();
      }
    });
    for (const input of [temperatureInput, maxTokensInput, thinkingInput]) {
      input.addEventListener('change', () => this.#readForm());
    }
    resetButton.addEventListener('click', () => {
      this.settings = {};
      saveSettings(this.settings);
      this.#fill();
    });
  }

  setOpen(open) {
    this.panel.hidden = !open;
    this.toggle.setAttribute('aria-expanded', String(open));
    if (open) this.temperatureInput.focus();
  }

  // From `hello.limits`: the server's own cap on max_tokens.
  setLimits(limits) {
    if (limits?.max_tokens) {
      this.maxTokensLimit = limits.max_tokens;
      this.maxTokensInput.max = String(limits.max_tokens);
      this.maxTokensInput.placeholder = `server default (max ${limits.max_tokens})`;
    }
  }

  // The `params` object for a chat frame.
  params() {
    const params = {};
    if (typeof this.settings.temperature === 'number') params.temperature = this.settings.temperature;
    if (typeof this.settings.max_tokens === 'number') {
      params.max_tokens = Math.min(this.settings.max_tokens, this.maxTokensLimit);
    }
    if (typeof this.settings.enable_thinking === 'boolean') params.enable_thinking = this.settings.enable_thinking;
    return params;
  }

  #fill() {
    this.temperatureInput.value = this.settings.temperature ?? '';
    this.maxTokensInput.value = this.settings.max_tokens ?? '';
    const thinking = this.settings.enable_thinking;
    this.thinkingInput.value = thinking === true ? 'on' : thinking === false ? 'off' : '';
    this.errorOutput.textContent = '';
  }

  #readForm() {
    const temperature = parseNumber(this.temperatureInput.value, { min: 0, max: 2 });
    const maxTokens = parseNumber(this.maxTokensInput.value, { min: 1, max: this.maxTokensLimit, integer: true });
    const error = temperature.error ? `Temperature: ${temperature.error}` : maxTokens.error ? `Max tokens: ${maxTokens.error}` : '';
    this.errorOutput.textContent = error;
    this.temperatureInput.setAttribute('aria-invalid', String(Boolean(temperature.error)));
    this.maxTokensInput.setAttribute('aria-invalid', String(Boolean(maxTokens.error)));
    if (error) return;
    this.settings = {};
    if (temperature.value !== null) this.settings.temperature = temperature.value;
    if (maxTokens.value !== null) this.settings.max_tokens = maxTokens.value;
    if (this.thinkingInput.value) this.settings.enable_thinking = this.thinkingInput.value === 'on';
    saveSettings(this.settings);
  }
}
