// Classic script, loaded (blocking) in <head>: applies the theme chosen with the header's
// toggle before the first paint, so a dark-mode user never sees a white flash. Without a
// choice the stylesheet follows the OS (prefers-color-scheme). theme.js owns the toggle.
(function applyStoredTheme() {
  try {
    const theme = localStorage.getItem('tickertape.theme');
    if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
  } catch {
    /* storage disabled: follow the OS */
  }
}());
