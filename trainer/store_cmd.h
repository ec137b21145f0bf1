/* store_cmd.h - `rectrain store ...`: operating a store from the command
 * line. Every command that changes the store is one LMDB write transaction
 * (core/store.h, "Administration"), so it is safe while servers read it:
 *
 *   store ls DIR [--json]                 one line per version; --json: every manifest
 *   store show DIR VARIANT [VERSION]      a version's manifest (default: current)
 *   store set-current DIR VARIANT VERSION roll back or promote (the version must load)
 *   store rm DIR VARIANT VERSION [--force]  delete a version (current only with --force)
 *   store verify DIR                      every checksum and invariant; exit 1 on damage
 *
 * Exit status: 0 done, 1 failed (or damage found), 2 usage. */
#ifndef RS_STORE_CMD_H
#define RS_STORE_CMD_H

/* argv[0] is "store". */
int rs_store_command(int argc, char **argv);

#endif
