// On narrow screens the conversation list is an off-canvas drawer. On wide screens the
// CSS shows it permanently and the toggle is hidden, so this code is inert there.

export class Drawer {
  constructor({ toggle, panel, backdrop, onOpen = () => {} }) {
    this.toggle = toggle;
    this.panel = panel;
    this.backdrop = backdrop;
    this.onOpen = onOpen;
    toggle.addEventListener('click', () => (this.isOpen ? this.close() : this.open()));
    backdrop.addEventListener('click', () => this.close());
    panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.isOpen) {
        this.close();
      }
    });
  }

  get isOpen() {
    return document.body.classList.contains('drawer-open');
  }

  open() {
    document.body.classList.add('drawer-open');
    this.toggle.setAttribute('aria-expanded', 'true');
    this.backdrop.hidden = false;
    this.onOpen(); // moves focus into the list
  }

  close({ restoreFocus = true } = {}) {
    if (!this.isOpen) return;
    document.body.classList.remove('drawer-open');
    this.toggle.setAttribute('aria-expanded', 'false');
    this.backdrop.hidden = true;
    if (restoreFocus) this.toggle.focus();
  }
}
