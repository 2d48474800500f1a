package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shiftsync/shiftsync/server/shiftsync"
	"github.com/shiftsync/shiftsync/server/wiring"
)

// The directory the generator provisions before the server starts.
const (
	loadOrganisation = "load-care"
	loadManager      = "load-manager"
	// phonesPerService is how many phones share a service: a house's staff.
	phonesPerService = 10
)

// serviceOf returns the service of the i-th phone, and its person supported.
func serviceOf(i int) (service, person string) {
	n := i / phonesPerService
	return fmt.Sprintf("house-%04d", n), fmt.Sprintf("person-%04d", n)
}

// workerOf returns the user of the i-th phone.
func workerOf(i int) string { return fmt.Sprintf("worker-%05d", i) }

// provision creates, in the SQLite database at path, the organisation, a
// service and a person supported for every phonesPerService of users, a
// support worker per user, and a manager of every service; it returns a
// one-time enrolment code for the manager. It runs before the server
// starts, in this process, as an operator's shiftsyncd admin commands would.
func provision(ctx context.Context, path string, users int) (string, error) {
	st, err := wiring.SQLite(path)(time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	defer st.Close()
	id := st.Identities
	op := shiftsync.Principal{UserID: "shiftsyncload"}
	if err := id.CreateOrganisation(ctx, op, loadOrganisation, "Load Care"); err != nil {
		return "", err
	}
	if err := id.CreateUser(ctx, op, loadManager, loadOrganisation, "Load Manager", ""); err != nil {
		return "", err
	}
	start := time.Now().Add(-24 * time.Hour)
	for i := 0; i < users; i++ {
		service, person := serviceOf(i)
		if i%phonesPerService == 0 {
			if err := id.CreateService(ctx, op, service, loadOrganisation, service); err != nil {
				return "", err
			}
			if err := id.CreatePerson(ctx, op, person, service, person); err != nil {
				return "", err
			}
			if _, err := id.AddMembership(ctx, op, shiftsync.Membership{UserID: loadManager, ServiceID: service, Role: shiftsync.RoleManager, Start: start}); err != nil {
				return "", err
			}
		}
		if err := id.CreateUser(ctx, op, workerOf(i), loadOrganisation, workerOf(i), ""); err != nil {
			return "", err
		}
		if _, err := id.AddMembership(ctx, op, shiftsync.Membership{UserID: workerOf(i), ServiceID: service, Role: shiftsync.RoleSupportWorker, Start: start}); err != nil {
			return "", err
		}
	}
	code, _, err := id.IssueEnrolmentCode(ctx, op, loadManager)
	return code, err
}

// server is a shiftsyncd serve process the generator started.
type server struct {
	cmd *exec.Cmd
	url string
	log *os.File
}

// startServer runs binary serve on the database at path, on a free
// loopback port, with the extra flags, and waits until it listens.
func startServer(ctx context.Context, binary, path string, extra []string) (*server, error) {
	logFile, err := os.Create(filepath.Join(filepath.Dir(path), "shiftsyncd.log"))
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "-db", path, "-addr", "127.0.0.1:0", "-state", filepath.Dir(path), "-evaluate-every", "0"}, extra...)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stderr = logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, log: logFile}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "shiftsyncd listening on "); ok {
				found <- strings.Fields(rest)[0]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case s.url = <-found:
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, fmt.Errorf("shiftsyncd did not start; see %s", logFile.Name())
	}
	if err := loopbackOnly(s.url); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// loopbackOnly refuses a URL whose host is not a loopback address: the
// generator never loads anything but this machine.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", raw)
	}
	return nil
}

// stop asks the server to finish (SIGINT) and waits for it, killing it
// after 20 seconds.
func (s *server) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	_ = s.log.Close()
}

// pid returns the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// buildServer builds shiftsyncd into dir and returns its path.
func buildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "shiftsyncd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/shiftsync/shiftsync/server/cmd/shiftsyncd")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", errors.Join(errors.New("build shiftsyncd"), err)
	}
	return bin, nil
}
