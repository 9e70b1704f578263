// What the chat page does with the session's events: acknowledgements, reply frames,
// refusals, and the notices about this user's other tabs and devices (a turn started
// elsewhere, a rename, a deletion, a branch switch). Also the message actions that start
// a new turn: Retry, Regenerate, Edit, and switching branches.

import { conversationsApi } from './api.js';
import { displayTitle } from './conversations.js';
import { describeError, isRetryable } from './protocol.js';
import { editInPlace } from './message-view.js';

export function wireSessionEvents({ session, view, list, transcript, composer, settings, welcome, status, showError }) {
  const refreshComposer = () => {
    composer.update();
    const reply = session.activeReplyFor(view.currentId);
    status.setQueued(reply?.state === 'queued' ? reply.queuePosition ?? 0 : null);
    list.updateRunning();
  };

  session.addEventListener('hello', (e) => {
    const { frame, first } = e.detail;
    settings.setLimits(frame.limits);
    welcome.setModel(frame.model);
    // Catch up on what happened while this tab was offline (notices are not replayed).
    // The first hello of the page needs nothing: the list was just loaded.
    if (!first) {
      list.refresh();
      if (view.currentId) view.open(view.currentId, { reload: true });
    }
    refreshComposer();
  });

  session.addEventListener('accepted', async (e) => {
    const { chat, reply } = e.detail;
    transcript.setTreeSupported(session.treeSupported);
    if (chat) {
      reply.userContent = chat.content || null;
      reply.params = chat.params ?? null;
    }
    const adoptNew = chat && !chat.conversationId && view.currentId === null;
    if (adoptNew) view.adopt(reply.conversationId);
    if (chat && (chat.kind === 'regenerate' || chat.kind === 'edit') && reply.conversationId === view.currentId) {
      view.open(view.currentId, { reload: true }); // the active branch changed: redraw it
    } else {
      view.showReply(reply);
    }
    refreshComposer();
    if (adoptNew || !list.get(reply.conversationId)) {
      await list.refresh();
      view.refreshTitle();
    }
  });

  session.addEventListener('reply', (e) => {
    view.showReply(e.detail.reply);
    refreshComposer();
  });

  session.addEventListener('reply-end', async (e) => {
    const { reply } = e.detail;
    const stopHadFocus = document.activeElement === composer.stopButton;
    if (reply.conversationId === view.currentId) {
      view.showReply(reply);
      if (reply.incomplete) view.open(view.currentId, { reload: true }); // the stored text is authoritative
    }
    refreshComposer();
    if (stopHadFocus) composer.focus();
    await list.refresh(); // new updated_at, message count, maybe a title
    view.refreshTitle();
  });

  session.addEventListener('chat-error', (e) => {
    const { chat, error } = e.detail;
    const text = describeError(error);
    if ((chat.conversationId ?? null) === view.currentId && chat.kind !== 'regenerate') {
      transcript.markUserFailed(chat.clientMsgId, text, {
        retryAfterMs: error.retry_after_ms ?? 0,
        onRetry: isRetryable(error.code) || error.code === 'conflict'
          ? () => {
            session.retryChat(chat);
            transcript.addPendingReply(chat.clientMsgId);
            refreshComposer();
          }
          : null,
        onDiscard: () => composer.fill(chat.content), // give the text back
      });
    } else {
      transcript.list.querySelector(`.message.assistant[data-client-msg-id="${CSS.escape(chat.clientMsgId)}"]`)?.remove();
      showError(text);
    }
    refreshComposer();
  });

  session.addEventListener('reply-error', (e) => {
    const { reply, error } = e.detail;
    if (reply.conversationId === view.currentId) {
      const text = error.code === 'not_found' ? 'This reply can no longer be followed live.' : describeError(error);
      transcript.markReplyError(reply.id, text);
      if (error.code === 'not_found') transcript.updateReply(reply);
    }
    refreshComposer();
  });

  session.addEventListener('notice', (e) => onNotice(e.detail.frame));
  session.addEventListener('error', (e) => showError(describeError(e.detail.error)));
  session.addEventListener('pending', refreshComposer);

  function onNotice(frame) {
    const id = frame.conversation_id;
    switch (frame.type) {
      case 'turn_started': {
        // Sent from another tab or device: follow its reply live (resume from seq 0).
        const reply = session.follow(frame.reply_id, id, { userMessageId: frame.user_message_id });
        reply.clientMsgId = frame.client_msg_id ?? null;
        reply.userContent = frame.content ?? null;
        if (id === view.currentId) {
          const known = transcript.list.querySelector(`.message[data-message-id="${CSS.escape(frame.user_message_id)}"]`);
          if (known) view.open(id, { reload: true }); // a regenerate: a new branch of a shown message
          else view.showReply(reply);
        }
        if (list.get(id)) list.upsert({ id, updated_at: new Date().toISOString() });
        else list.refresh();
        break;
      }
      case 'conversation_renamed':
        if (list.get(id)) list.upsert({ id, title: frame.title });
        if (id === view.currentId) view.titleElement.textContent = displayTitle({ title: frame.title });
        break;
      case 'conversation_deleted':
        // Also sent to the page that deleted it (which has already moved on).
        list.removeLocal(id);
        if (id === view.currentId) {
          view.openNew();
          showError('This conversation was deleted in another tab or on another device.');
        }
        break;
      case 'branch_changed':
        // Also sent to the page that switched: redraw only if it shows another branch.
        if (id === view.currentId && view.conversation?.active_leaf_id !== frame.active_leaf_id) {
          view.open(id, { reload: true });
        }
        break;
      default:
        break;
    }
    refreshComposer();
  }

  return { refreshComposer };
}

// Retry, Regenerate, Edit and the branch switcher. Without the server's message tree a
// Retry re-sends the question as a new message; with it, it is a regenerate.
export function messageActions({ session, view, transcript, settings, showError, showApiError, refresh }) {
  const regenerate = (item) => {
    // One turn per reply shown: a double click (or Retry then Regenerate) sends one.
    if (item.dataset.regenerating) return;
    item.dataset.regenerating = 'yes';
    const userMessageId = item.dataset.parentId;
    if (session.treeSupported && userMessageId) {
      session.sendTurn({ kind: 'regenerate', conversationId: view.currentId, userMessageId, params: settings.params() });
      // The transcript is redrawn under the button that had focus: keyboard users go on
      // from the composer, not from the top of the page.
      document.getElementById('composer-input')?.focus();
    } else {
      const content = transcript.userTextBefore(item);
      if (!content) return;
      const chat = session.sendChat({ content, conversationId: view.currentId, params: settings.params() });
      transcript.addUserMessage({ content, clientMsgId: chat.clientMsgId, pending: true });
      transcript.addPendingReply(chat.clientMsgId);
    }
    refresh();
  };
  return {
    onRetry: regenerate,
    onRegenerate: regenerate,
    onEdit: async (item) => {
      const content = await editInPlace(item);
      if (content === null) return;
      if (session.activeReplyFor(view.currentId)) {
        showError('A reply is still being written in this conversation. Wait for it to finish or stop it first.');
        return;
      }
      session.sendTurn({ kind: 'edit', conversationId: view.currentId, messageId: item.dataset.messageId, content, params: settings.params() });
      refresh();
    },
    onSwitchBranch: async (messageId, direction) => {
      const id = view.currentId;
      try {
        await conversationsApi.switchBranch(id, messageId);
      } catch (err) {
        showApiError(err);
        return;
      }
      if (view.currentId !== id) return;
      await view.open(id, { reload: true });
      // Focus stays on the switcher, in the redrawn message (the other arrow at an end).
      const switcher = document.querySelector(`.message[data-message-id="${CSS.escape(messageId)}"] .branch-switcher`);
      const same = switcher?.querySelector(`.branch-${direction}:not([disabled])`);
      (same ?? switcher?.querySelector('button:not([disabled])'))?.focus();
    },
  };
}
