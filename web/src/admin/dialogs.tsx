/*
 * The console's dialogs: a form in a modal (fields, its error in words, Cancel
 * and the action), and the confirm dialog every destructive action goes
 * through. The action runs inside the dialog, so its error shows there (the
 * dialog stays open) instead of in a toast the user may miss. The shared Modal
 * keeps the keyboard inside and focuses the first field, or Cancel in a confirm.
 */
import type { ComponentChildren } from 'preact';
import { ErrorText, FormActions, Modal } from '../shared/ui';
import { useSubmit } from './hooks';

export function FormDialog(props: {
  title: string;
  onClose: () => void;
  /** Runs on submit; what it throws is shown in the dialog. */
  onSubmit: () => Promise<void>;
  /** The submit button's label, and what it says while the action runs. */
  action: string;
  busyLabel: string;
  danger?: boolean | undefined;
  testid?: string;
  actionTestid?: string;
  children: ComponentChildren;
}) {
  const { busy, error, submit } = useSubmit(props.onSubmit);
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <form onSubmit={submit} data-testid={props.testid}>
        {props.children}
        <ErrorText error={error} />
        <FormActions
          onCancel={props.onClose}
          label={busy ? props.busyLabel : props.action}
          disabled={busy}
          danger={props.danger}
          testid={props.actionTestid}
        />
      </form>
    </Modal>
  );
}

/** Asks before an action; closes once it succeeded. */
export function Confirm(props: {
  title: string;
  children: ComponentChildren;
  confirm: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
  onClose: () => void;
}) {
  return (
    <FormDialog
      title={props.title}
      onClose={props.onClose}
      onSubmit={async () => {
        await props.onConfirm();
        props.onClose();
      }}
      action={props.confirm}
      busyLabel="Working…"
      danger={props.danger}
      actionTestid="confirm"
    >
      <div class="confirm-text">{props.children}</div>
    </FormDialog>
  );
}
