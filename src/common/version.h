/* version.h - the project's one version string, set by the build.
 *
 * The Makefile passes -DFERRY_VERSION="..." to the objects in its VERSION_USERS list, and to
 * those only (a new commit then rebuilds four objects, not the tree): `git describe --always
 * --dirty` in a git checkout, else the first line of a VERSION file (a source copy, such as
 * the one scripts/fresh-check.sh makes), else "0.0.0-unknown". Every program prints it for
 * --version. A file that includes this header must be in VERSION_USERS.
 */
#ifndef FERRY_VERSION_H
#define FERRY_VERSION_H

#ifndef FERRY_VERSION
#error "FERRY_VERSION comes from the build: add this file to VERSION_USERS in the Makefile"
#endif

#endif
