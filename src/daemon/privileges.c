/*
 * privileges.c - drop root after binding (see privileges.h).
 */
#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int
wsg_drop_privileges(const struct wsg_config *cfg, char *err, size_t errlen)
{
    if (cfg->user == NULL && cfg->group == NULL)
        return 0;
    uid_t uid = getuid();
    gid_t gid = getgid();
    const char *home_user = NULL;

    if (cfg->user != NULL) {
        struct passwd *pw = getpwnam(cfg->user);
        if (pw == NULL) {
            snprintf(err, errlen, "%s: user \"%s\" does not exist", cfg->file, cfg->user);
            return -1;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        home_user = pw->pw_name;
    }
    if (cfg->group != NULL) {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL) {
            snprintf(err, errlen, "%s: group \"%s\" does not exist", cfg->file, cfg->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (geteuid() != 0) {
        if (geteuid() == uid && getegid() == gid)
            return 0; /* already who we should be (systemd User=) */
        snprintf(err, errlen, "cannot switch to user %s / group %s: not running as root",
                 cfg->user != NULL ? cfg->user : "-", cfg->group != NULL ? cfg->group : "-");
        return -1;
    }
    int rc = home_user != NULL ? initgroups(home_user, gid) : setgroups(0, NULL);
    if (rc != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        snprintf(err, errlen, "cannot drop privileges: %s", strerror(errno));
        return -1;
    }
    if (uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "dropped privileges can be regained: refusing to run");
        return -1;
    }
    log_info("running as uid %u gid %u", (unsigned)uid, (unsigned)gid);
    return 0;
}
