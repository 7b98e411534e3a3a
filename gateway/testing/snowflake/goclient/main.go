// A small gosnowflake client for Verdict's tests: reads a JSON script (connection config + steps) on stdin, runs
// it through the unmodified driver over database/sql, and prints one JSON report on stdout.
package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	sf "github.com/snowflakedb/gosnowflake"
)

type config struct {
	Account       string `json:"account"`
	User          string `json:"user"`
	Password      string `json:"password"`
	Authenticator string `json:"authenticator"` // snowflake | jwt | oauth
	PrivateKeyPEM string `json:"privateKeyPem"`
	Token         string `json:"token"`
	Host          string `json:"host"`
	Port          int    `json:"port"`
	Protocol      string `json:"protocol"`
	Database      string `json:"database"`
	Schema        string `json:"schema"`
	Warehouse     string `json:"warehouse"`
	Role          string `json:"role"`
}

// arg is one bind value: exactly one field set. Named binds carry Name.
type arg struct {
	Name      string    `json:"name,omitempty"`
	Int       *int64    `json:"int,omitempty"`
	String    *string   `json:"string,omitempty"`
	Float     *float64  `json:"float,omitempty"`
	Bool      *bool     `json:"bool,omitempty"`
	Null      bool      `json:"null,omitempty"`
	Timestamp *string   `json:"timestamp,omitempty"`
	Ints      []int64   `json:"ints,omitempty"`
	Strings   []string  `json:"strings,omitempty"`
	Floats    []float64 `json:"floats,omitempty"`
}

type step struct {
	Op         string `json:"op"` // ping | query | exec | describe | async | cancel
	SQL        string `json:"sql"`
	Args       []arg  `json:"args"`
	AfterMs    int    `json:"afterMs"`
	PollStatus bool   `json:"pollStatus"`
}

type script struct {
	Config config `json:"config"`
	Steps  []step `json:"steps"`
}

type column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type sfErr struct {
	Number   int    `json:"number"`
	SQLState string `json:"sqlState"`
	Message  string `json:"message"`
	QueryID  string `json:"queryId"`
	Text     string `json:"text"`
}

type outcome struct {
	Op           string      `json:"op"`
	Columns      []column    `json:"columns,omitempty"`
	Rows         [][]*string `json:"rows"`
	RowsAffected *int64      `json:"rowsAffected,omitempty"`
	QueryID      string      `json:"queryId,omitempty"`
	Status       string      `json:"status,omitempty"`
	Error        *sfErr      `json:"error,omitempty"`
	ElapsedMs    int64       `json:"elapsedMs"`
	ReturnMs     int64       `json:"returnMs,omitempty"`
}

type report struct {
	Steps []outcome `json:"steps"`
	Fatal string    `json:"fatal,omitempty"`
	Close *sfErr    `json:"close,omitempty"`
}

func main() {
	var s script
	rep := report{Steps: []outcome{}}
	defer func() {
		out, _ := json.Marshal(rep)
		fmt.Println(string(out))
	}()
	if err := json.NewDecoder(os.Stdin).Decode(&s); err != nil {
		rep.Fatal = "bad script: " + err.Error()
		return
	}
	cfg, err := driverConfig(s.Config)
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	db := sql.OpenDB(sf.NewConnector(sf.SnowflakeDriver{}, *cfg))
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		rep.Steps = append(rep.Steps, outcome{Op: "connect", Error: toErr(err)})
		_ = db.Close()
		return
	}
	for _, st := range s.Steps {
		rep.Steps = append(rep.Steps, run(ctx, conn, st))
	}
	_ = conn.Close()
	if err := db.Close(); err != nil {
		rep.Close = toErr(err)
	}
}

func driverConfig(c config) (*sf.Config, error) {
	cfg := &sf.Config{
		Account:          c.Account,
		User:             c.User,
		Password:         c.Password,
		Host:             c.Host,
		Port:             c.Port,
		Protocol:         c.Protocol,
		Database:         c.Database,
		Schema:           c.Schema,
		Warehouse:        c.Warehouse,
		Role:             c.Role,
		LoginTimeout:     20 * time.Second,
		MaxRetryCount:    1,
		DisableTelemetry: false,
	}
	switch c.Authenticator {
	case "", "snowflake":
		cfg.Authenticator = sf.AuthTypeSnowflake
	case "jwt":
		cfg.Authenticator = sf.AuthTypeJwt
		block, _ := pem.Decode([]byte(c.PrivateKeyPEM))
		if block == nil {
			return nil, errors.New("privateKeyPem is not PEM")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("privateKeyPem is not an RSA key")
		}
		cfg.PrivateKey = rk
	case "oauth":
		cfg.Authenticator = sf.AuthTypeOAuth
		cfg.Token = c.Token
	default:
		return nil, fmt.Errorf("unknown authenticator %q", c.Authenticator)
	}
	return cfg, nil
}

func bindArgs(args []arg) []any {
	out := make([]any, 0, len(args))
	for _, a := range args {
		var v any
		switch {
		case a.Int != nil:
			v = *a.Int
		case a.String != nil:
			v = *a.String
		case a.Float != nil:
			v = *a.Float
		case a.Bool != nil:
			v = *a.Bool
		case a.Timestamp != nil:
			t, err := time.Parse(time.RFC3339Nano, *a.Timestamp)
			if err != nil {
				v = *a.Timestamp
			} else {
				v = t
			}
		case a.Ints != nil:
			v = sf.Array(&a.Ints)
		case a.Strings != nil:
			v = sf.Array(&a.Strings)
		case a.Floats != nil:
			v = sf.Array(&a.Floats)
		default:
			v = nil
		}
		if a.Name != "" {
			v = sql.Named(a.Name, v)
		}
		out = append(out, v)
	}
	return out
}

func run(ctx context.Context, conn *sql.Conn, st step) (o outcome) {
	o.Op = st.Op
	start := time.Now()
	defer func() { o.ElapsedMs = time.Since(start).Milliseconds() }()
	ids := make(chan string, 1)
	qctx := sf.WithQueryIDChan(ctx, ids)
	args := bindArgs(st.Args)
	switch st.Op {
	case "ping":
		if err := conn.PingContext(ctx); err != nil {
			o.Error = toErr(err)
		}
	case "query":
		readRows(&o, qctx, conn, st.SQL, args)
	case "describe":
		readRows(&o, sf.WithDescribeOnly(qctx), conn, st.SQL, args)
	case "exec":
		res, err := conn.ExecContext(qctx, st.SQL, args...)
		if err != nil {
			o.Error = toErr(err)
			break
		}
		if n, err := res.RowsAffected(); err == nil {
			o.RowsAffected = &n
		}
	case "async":
		actx := sf.WithAsyncMode(qctx)
		rows, err := conn.QueryContext(actx, st.SQL, args...)
		o.ReturnMs = time.Since(start).Milliseconds()
		if err != nil {
			o.Error = toErr(err)
			break
		}
		o.QueryID = <-ids
		if st.PollStatus {
			_ = conn.Raw(func(x any) error {
				_, err := x.(sf.SnowflakeConnection).GetQueryStatus(ctx, o.QueryID)
				var se *sf.SnowflakeError
				switch {
				case err == nil:
					o.Status = "DONE"
				case errors.As(err, &se) && se.Number == sf.ErrQueryIsRunning:
					o.Status = "RUNNING"
				default:
					o.Status = "error: " + err.Error()
				}
				return nil
			})
		}
		collect(&o, rows)
	case "cancel":
		cctx, cancel := context.WithTimeout(qctx, time.Duration(st.AfterMs)*time.Millisecond)
		defer cancel()
		rows, err := conn.QueryContext(cctx, st.SQL, args...)
		if err == nil {
			collect(&o, rows)
		} else {
			o.Error = toErr(err)
		}
	default:
		o.Error = &sfErr{Text: "unknown op " + st.Op}
	}
	if o.QueryID == "" {
		select {
		case id := <-ids:
			o.QueryID = id
		default:
		}
	}
	return o
}

func readRows(o *outcome, ctx context.Context, conn *sql.Conn, query string, args []any) {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		o.Error = toErr(err)
		return
	}
	collect(o, rows)
}

func collect(o *outcome, rows *sql.Rows) {
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		o.Error = toErr(err)
		return
	}
	for _, t := range types {
		o.Columns = append(o.Columns, column{Name: t.Name(), Type: t.DatabaseTypeName()})
	}
	o.Rows = [][]*string{}
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			o.Error = toErr(err)
			return
		}
		row := make([]*string, len(vals))
		for i, v := range vals {
			row[i] = text(v)
		}
		o.Rows = append(o.Rows, row)
	}
	if err := rows.Err(); err != nil {
		o.Error = toErr(err)
	}
}

func text(v any) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		s = hex.EncodeToString(x)
	case time.Time:
		s = x.UTC().Format(time.RFC3339Nano)
	default:
		s = fmt.Sprint(x)
	}
	return &s
}

func toErr(err error) *sfErr {
	var se *sf.SnowflakeError
	if errors.As(err, &se) {
		return &sfErr{Number: se.Number, SQLState: se.SQLState, Message: se.Message, QueryID: se.QueryID, Text: err.Error()}
	}
	return &sfErr{Number: -1, Text: err.Error()}
}
