// The first screen of a new conversation: what the demo model knows and prompts it answers
// well (taken from its training topics: docs/demo_model.md). A click sends the prompt.

import { el } from './dom.js';

export const EXAMPLE_PROMPTS = [
  { topic: 'Python', text: 'How do I reverse a list in Python?' },
  { topic: 'Travel', text: 'What should I see in Tokyo?' },
  { topic: 'Cooking', text: 'How do I make pancakes?' },
  { topic: 'Concepts', text: 'Can you explain recursion?' },
  { topic: 'Animals', text: 'Tell me about penguins.' },
  { topic: 'Fun', text: 'Tell me a joke.' },
];

export class WelcomeScreen {
  constructor({ section, list, hint, onPick }) {
    this.section = section;
    this.hint = hint;
    list.replaceChildren(...EXAMPLE_PROMPTS.map(({ topic, text }) => el('li', {},
      el('button', { type: 'button', class: 'example-prompt', onclick: () => onPick(text) },
        el('span', { class: 'example-topic' }, topic),
        el('span', { class: 'example-text' }, text)))));
  }

  setVisible(visible) {
    this.section.hidden = !visible;
  }

  setModel(model) {
    this.hint.textContent = model
      ? `Replies come from “${model}”, streamed word by word. Generation settings are under Settings.`
      : '';
  }
}
