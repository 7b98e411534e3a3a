// What a JDBC client sees of the session, printed as JSON so the same run directly against PostgreSQL and
// through Verdict can be compared: Connection.isValid() (an empty statement), empty and comment-only
// statements in both protocols, and the settings the URL asked for at startup.
// Usage: java -cp /usr/share/java/postgresql.jar:. JdbcFidelity <jdbc-url> <user> <password>
import java.sql.*;

public class JdbcFidelity {
  public static void main(String[] args) throws Exception {
    StringBuilder out = new StringBuilder("{");
    try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
      out.append("\"valid\":").append(c.isValid(5));
      try (PreparedStatement ps = c.prepareStatement("")) {
        out.append(",\"emptyPrepared\":").append(ps.execute()).append(",\"emptyPreparedCount\":").append(ps.getUpdateCount());
      }
      try (Statement st = c.createStatement()) {
        out.append(",\"commentOnly\":").append(st.execute("-- only a comment")).append(",\"commentOnlyCount\":").append(st.getUpdateCount());
      }
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
          "SELECT current_setting('application_name'), current_setting('statement_timeout'), current_setting('TimeZone'), current_setting('extra_float_digits'), current_setting('DateStyle')")) {
        rs.next();
        out.append(",\"settings\":[");
        for (int i = 1; i <= 5; i++) out.append(i == 1 ? "" : ",").append('"').append(rs.getString(i)).append('"');
        out.append(']');
      }
      out.append(",\"validAfter\":").append(c.isValid(5));
      // Everyday driver features: catalog metadata (what IDEs and ORMs read), read-only transactions,
      // arrays as parameters, cursor-based fetching.
      DatabaseMetaData md = c.getMetaData();
      out.append(",\"product\":\"").append(md.getDatabaseProductVersion()).append('"');
      out.append(",\"tables\":[");
      try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) {
        for (int i = 0; rs.next(); i++) out.append(i == 0 ? "" : ",").append('"').append(rs.getString("TABLE_NAME")).append('"');
      }
      out.append("],\"columns\":[");
      try (ResultSet rs = md.getColumns(null, "public", "visits", "%")) {
        for (int i = 0; rs.next(); i++) out.append(i == 0 ? "" : ",").append('"').append(rs.getString("COLUMN_NAME")).append(':').append(rs.getString("TYPE_NAME")).append('"');
      }
      out.append("],\"primaryKey\":[");
      try (ResultSet rs = md.getPrimaryKeys(null, "public", "visits")) {
        for (int i = 0; rs.next(); i++) out.append(i == 0 ? "" : ",").append('"').append(rs.getString("COLUMN_NAME")).append('"');
      }
      out.append(']');
      c.setAutoCommit(false);
      c.setReadOnly(true);
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SHOW transaction_read_only")) {
        rs.next();
        out.append(",\"readOnly\":\"").append(rs.getString(1)).append('"');
      }
      c.rollback();
      c.setReadOnly(false);
      try (PreparedStatement ps = c.prepareStatement("SELECT id FROM visits WHERE id = ANY(?) ORDER BY id")) {
        ps.setArray(1, c.createArrayOf("int4", new Object[] {1, 2}));
        out.append(",\"anyArray\":[");
        try (ResultSet rs = ps.executeQuery()) {
          for (int i = 0; rs.next(); i++) out.append(i == 0 ? "" : ",").append(rs.getInt(1));
        }
        out.append(']');
      }
      try (Statement st = c.createStatement()) {
        st.setFetchSize(2); // a portal fetched two rows at a time (Execute with a row limit)
        int n = 0;
        try (ResultSet rs = st.executeQuery("SELECT id FROM visits ORDER BY id")) {
          while (rs.next()) n++;
        }
        out.append(",\"fetched\":").append(n);
      }
      c.commit();
      c.setAutoCommit(true);
    }
    System.out.println(out.append("}"));
  }
}
