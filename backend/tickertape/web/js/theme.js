// The header's theme toggle: system → light → dark → system. The choice lives in
// localStorage and in <html data-theme>; "system" removes the attribute so the stylesheet
// follows prefers-color-scheme. theme-init.js applies a stored choice before first paint.

const STORAGE_KEY = 'tickertape.theme';
const ORDER = ['system', 'light', 'dark'];
const LABELS = { system: 'Theme: follow the system', light: 'Theme: light', dark: 'Theme: dark' };

export function currentTheme() {
  const value = document.documentElement.dataset.theme;
  return value === 'light' || value === 'dark' ? value : 'system';
}

function applyTheme(theme) {
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try {
    if (theme === 'system') localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, theme);
  } catch {
    /* private mode: the choice lasts for this page */
  }
}

export class ThemeToggle {
  constructor(button) {
    this.button = button;
    button.addEventListener('click', () => {
      const next = ORDER[(ORDER.indexOf(currentTheme()) + 1) % ORDER.length];
      applyTheme(next);
      this.render();
    });
    this.render();
  }

  render() {
    const theme = currentTheme();
    this.button.dataset.theme = theme;
    this.button.setAttribute('aria-label', LABELS[theme]);
    this.button.title = LABELS[theme];
  }
}
