/**
 * A directive for a form of Vuestic fields: Vuestic (1.10) puts an error's text in the field's
 * aria-errormessage, which takes element ids (axe-core: critical). This points it at the field's own
 * message list (role alert), where that text is shown, and drops it while the field is valid.
 * Vue sets the attribute only when Vuestic's value changes; the directive runs after each update.
 */
import type { Directive } from 'vue'

function pointAtMessages(form: HTMLElement): void {
  for (const field of form.querySelectorAll('[aria-errormessage]')) {
    const list = field.closest('.va-input-wrapper, .va-checkbox')?.querySelector('[id^="message-list-"]')
    if (list && field.getAttribute('aria-invalid') === 'true') field.setAttribute('aria-errormessage', list.id)
    else field.removeAttribute('aria-errormessage')
  }
}

export const vErrorMessageIds: Directive<HTMLElement> = { mounted: pointAtMessages, updated: pointAtMessages }
