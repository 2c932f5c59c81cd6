/*
 * console_input.h - relays a host fd (stdin) into the guest's UART: a
 * thread reads the fd and pushes the bytes into a struct uart_16550,
 * blocking (never dropping) while the UART has no room or the guest is not
 * receiving (RTS low, uart_16550.h).
 *
 * A terminal is put in raw mode: no echo, no line editing, no signals
 * (Ctrl-C, Ctrl-Z, Ctrl-\ go to the guest as bytes), no XON/XOFF (Ctrl-S,
 * Ctrl-Q go to the guest), no CR/NL translation on input; output processing
 * (OPOST) is left as it was so the VMM's own messages still start at the
 * left margin. Like QEMU's, the escape is Ctrl-A:
 *   Ctrl-A x        calls quit(quit_ctx) (from the relay thread)
 *   Ctrl-A Ctrl-A   sends one Ctrl-A (0x01)
 *   Ctrl-A other    sends both bytes (nothing typed is lost)
 * The terminal's settings are restored by console_input_stop() and, if the
 * process exits normally (exit() or a return from main) without it, by an
 * atexit handler. A crash or a fatal signal (SIGKILL, SIGSEGV, an unhandled
 * SIGTERM) runs no handler and leaves the terminal raw: `stty sane` (or
 * `reset`) typed blind restores it.
 *
 * A pipe or file is passed through byte for byte, with no escape and no
 * translation: a lone '\n' stays '\n'. That is what a guest shell wants
 * (its tty ends a line at NL; ICRNL only maps CR to NL, so '\n' arrives as
 * '\n' either way), and it keeps binary input intact. EOF (or a read error)
 * ends the relay quietly; the guest keeps running without input.
 */
#ifndef COWVM_CONSOLE_INPUT_H
#define COWVM_CONSOLE_INPUT_H

#include "err.h"
#include "uart_16550.h"

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */
#define CONSOLE_QUIT   'x'

struct console_input;

/* Start the relay of `fd` into `u` (fd stays owned by the caller; u must
 * outlive the relay). quit may be NULL (Ctrl-A x then does nothing); it
 * runs on the relay thread, so it must only ask the VM to stop, not call
 * console_input_stop() itself. 0 or -errno with e filled. */
int console_input_start(struct console_input **out, int fd, struct uart_16550 *u,
                        void (*quit)(void *), void *quit_ctx, struct vmm_err *e);
/* Wake and join the thread (even while it waits for UART room), restore
 * the terminal, free. Bytes read but not yet taken by the UART are dropped
 * here: the console is going away. NULL is a no-op. */
void console_input_stop(struct console_input *ci);

#endif
