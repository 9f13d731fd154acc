// A minimal vcsim for Accord's vSphere connector tests (test/connectors/vsphere.test.ts), built by
// .ci/build-vcsim.sh against Debian's golang-github-vmware-govmomi-dev (0.24.2), which ships govmomi's
// simulator package but not its vcsim command.
//
// It starts the simulator's VPX (vCenter) model on 127.0.0.1:<port>, with the given credentials (vcsim's
// default accepts any non-empty user and password, so a wrong password would not fail), over TLS with
// Go's built-in localhost test certificate unless -tls=false, prints `VCSIM_URL=<url>` on one line and
// serves until SIGINT/SIGTERM.
//
// Where vcsim 0.24 differs from vCenter (see docs/backends/vsphere.md, "Connector"):
//   - SetEntityPermissions replaces the entity's whole permission list with the one sent; vCenter adds or
//     replaces the permission of each principal sent and leaves the others alone.
//   - Permissions are stored as sent: one sent without `entity` comes back without it.
//   - RemoveEntityPermission of a permission that does not exist succeeds; vCenter faults NotFound.
//   - No principal or role id is checked (vCenter faults UserNotFound / NotFound), and
//     HasPrivilegeOnEntities / HasUserPrivilegeOnEntities always grant.
//   - RetrievePropertiesEx returns everything at once (no token / ContinueRetrievePropertiesEx paging).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free port)")
	username := flag.String("username", "user", "the only user name accepted by Login")
	password := flag.String("password", "pass", "the only password accepted by Login")
	useTLS := flag.Bool("tls", true, "serve https with Go's localhost test certificate (self-signed)")
	flag.Parse()

	model := simulator.VPX()
	if err := model.Create(); err != nil {
		log.Fatalf("vcsim: creating the VPX model: %v", err)
	}
	model.Service.Listen = &url.URL{
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)),
		User: url.UserPassword(*username, *password),
	}
	if *useTLS {
		model.Service.TLS = new(tls.Config)
	}
	server := model.Service.NewServer()

	u := *server.URL
	u.User = nil
	fmt.Printf("VCSIM_URL=%s\n", u.String())
	if err := os.Stdout.Sync(); err != nil && !isNotSyncable(err) {
		log.Printf("vcsim: flushing stdout: %v", err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	server.Close()
	model.Remove()
}

// Sync on a pipe fails with EINVAL: nothing to flush there (os.Stdout is unbuffered).
func isNotSyncable(err error) bool {
	pe, ok := err.(*os.PathError)
	return ok && pe.Err == syscall.EINVAL
}
