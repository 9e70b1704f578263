// The header's "signed in as NAME" and its sign-out button (chat and admin pages). Both
// stay hidden with auth "none": there is nothing to sign out of.

import { currentUser, signedInWith } from './auth.js';
import { el } from './dom.js';

export class AccountControls {
  // onSignOut: async () => void; errors are the caller's to show.
  constructor({ nameElement, button, onSignOut }) {
    this.nameElement = nameElement;
    this.button = button;
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await onSignOut();
      } finally {
        button.disabled = false;
        this.update();
      }
    });
    this.update();
  }

  update() {
    const signedIn = Boolean(signedInWith());
    const name = signedIn ? currentUser()?.name : null;
    this.button.hidden = !signedIn;
    this.nameElement.hidden = !name;
    this.nameElement.replaceChildren(...(name ? [el('span', { class: 'visually-hidden' }, 'Signed in as '), name] : []));
  }
}
