/* notify.h - readiness and stopping notices for systemd (Type=notify): a
 * datagram to the socket named by $NOTIFY_SOCKET, as sd_notify(3) sends,
 * written here so that recserve needs no libsystemd. Without the variable
 * (not started by systemd) every call does nothing.
 */
#ifndef RS_NOTIFY_H
#define RS_NOTIFY_H

/* Sends state (e.g. "READY=1\nSTATUS=serving 2 variants"); 0 when sent or
 * when there is nowhere to send, -1 (errno set) when the send failed. */
int rs_notify(const char *state);

#endif
