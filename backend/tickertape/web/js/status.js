// The connection indicator in the header: one line of text plus a data-state attribute
// the stylesheet colours. Reply queueing is shown here too because it is what the user
// is waiting on.

export class StatusIndicator {
  constructor(element) {
    this.element = element;
    this.connection = { state: 'connecting', attempt: 0 };
    this.queuePosition = null;
    this.render();
  }

  setConnection({ state, attempt, delayMs }) {
    this.connection = { state, attempt, delayMs };
    this.render();
  }

  // position from a `queued` frame (0 = next in line), or null when not queued.
  setQueued(position) {
    this.queuePosition = position;
    this.render();
  }

  render() {
    const { state, attempt, delayMs } = this.connection;
    let text;
    let shown = state;
    switch (state) {
      case 'connecting':
        text = attempt > 0 ? `Reconnecting (attempt ${attempt})…` : 'Connecting…';
        if (attempt > 0) shown = 'reconnecting';
        break;
      case 'open':
        if (this.queuePosition !== null && this.queuePosition !== undefined) {
          text = `Queued (position ${this.queuePosition + 1})`;
          shown = 'queued';
        } else {
          text = 'Connected';
        }
        break;
      case 'reconnecting': {
        const secs = delayMs ? ` in ${Math.ceil(delayMs / 1000)} s` : '';
        text = `Reconnecting (attempt ${attempt})${secs}…`;
        break;
      }
      case 'offline':
        text = 'Offline — will reconnect when the network is back';
        break;
      case 'auth_required':
        text = 'Sign-in required';
        break;
      default:
        text = 'Disconnected';
    }
    this.element.dataset.state = shown;
    if (this.element.textContent !== text) this.element.textContent = text;
  }
}
